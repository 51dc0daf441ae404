"""CXOps: the MLOps platform for customer-service models."""

__version__ = "0.1.0"
