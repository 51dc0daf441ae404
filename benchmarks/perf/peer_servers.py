"""The peers the CXOps model server is measured against, serving the same churn classifier over V2:

    kserve   KServe's own `ModelServer` (the `kserve` package) with a `kserve.Model` that scores the
             request's tensors, as a KServe user would write it;
    floor    a bare Starlette app on uvicorn that parses the same JSON and calls the same classifier in
             the request handler: no validation, no telemetry, no thread pool (the floor).

    python benchmarks/perf/peer_servers.py kserve|floor --model-dir DIR --port PORT

Both answer `POST /v2/models/churn/infer` with the probability and label tensors and `GET
/v2/health/ready`; each runs in its own process with one worker, like the bento.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from cxops.modeling import load_classifier

MODEL = "churn"


def _frame(inputs: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame({tensor["name"]: tensor["data"] for tensor in inputs})


def _outputs(classifier: Any, frame: pd.DataFrame) -> list[dict[str, Any]]:
    proba = classifier.predict_proba(frame)
    labels = classifier.labels(proba)
    return [
        {"name": "probability", "datatype": "FP64", "shape": [len(proba)], "data": proba.tolist()},
        {"name": "label", "datatype": "BYTES", "shape": [len(proba)], "data": labels.tolist()},
    ]


def serve_kserve(model_dir: Path, port: int) -> None:
    import kserve
    from kserve.protocol.infer_type import InferRequest, InferResponse

    class ChurnModel(kserve.Model):
        def __init__(self) -> None:
            super().__init__(MODEL)
            self.classifier = None

        def load(self) -> bool:
            self.classifier = load_classifier(model_dir)
            self.ready = True
            return self.ready

        def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
            frame = pd.DataFrame({tensor.name: tensor.data for tensor in payload.inputs})
            outputs = _outputs(self.classifier, frame)
            return InferResponse.from_rest({"model_name": MODEL, "id": payload.id or "", "outputs": outputs})

    model = ChurnModel()
    model.load()
    kserve.ModelServer(http_port=port, grpc_port=0, enable_grpc=False, workers=1).start([model])


def serve_floor(model_dir: Path, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    classifier = load_classifier(model_dir)

    async def infer(request: Request) -> Response:
        body = json.loads(await request.body())
        return JSONResponse({"model_name": MODEL, "outputs": _outputs(classifier, _frame(body["inputs"]))})

    async def ready(_: Request) -> Response:
        return JSONResponse({"ready": True})

    app = Starlette(
        routes=[
            Route(f"/v2/models/{MODEL}/infer", infer, methods=["POST"]),
            Route("/v2/health/ready", ready, methods=["GET"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=("kserve", "floor"))
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    (serve_kserve if args.kind == "kserve" else serve_floor)(args.model_dir, args.port)


if __name__ == "__main__":
    main()
