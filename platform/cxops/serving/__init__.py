"""Online serving: request validation and prediction, the KServe V1/V2 routes, bento packaging, local servers.

    predictor.py        ModelPredictor: validated feature rows or customer ids -> labelled probabilities
    kserve_protocol.py  FastAPI app with the KServe V1 and Open Inference Protocol (V2) routes
    feature_source.py   where customer features come from (Feast online store, or memory)
    artifact.py         the served-model directory (classifier + spec) inside a BentoML model
    packaging.py        save_bento_model, build_bento (BentoML; imported on use)
    server.py           start_server: `bentoml serve` as a child process
    runtime.py          what serving/service.py resolves at start-up

Only light modules are imported here; BentoML is imported by the functions that need it.
"""

from cxops.serving.feature_source import InMemoryFeatureSource, OnlineFeatureSource
from cxops.serving.predictor import InputValidationError, ModelPredictor, Prediction

__all__ = [
    "InMemoryFeatureSource",
    "InputValidationError",
    "ModelPredictor",
    "OnlineFeatureSource",
    "Prediction",
]
