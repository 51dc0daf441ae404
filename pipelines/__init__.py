"""Kubeflow Pipelines (v2) definitions of the CXOps lifecycle."""
