"""The BentoML service of every CXOps model: one service, any model spec.

Which model it serves is fixed when the bento is built (`cxops.serving.packaging.build_bento` records
bento arguments `model` / `model_tag` and the `CXOPS_SERVING_MODEL` / `CXOPS_MODEL_TAG` environment);
from source, pass `--arg model=churn [--arg model_tag=cxops-churn:<version>]`.

Routes on one port: `POST /predict` (feature rows) and `POST /predict_customers` (customer ids), typed
from the model's spec, plus the KServe V1 and Open Inference Protocol V2 routes
(`cxops.serving.kserve_protocol`), BentoML's `/healthz`, `/livez`, `/readyz` and `/metrics`. A
recommendation model answers `POST /v1/recommendations` and its V2 route instead
(`cxops.serving.recommendation_app`); it asks the churn server at `CXOPS_RECOMMENDATION_CHURN_URL`.

A text model whose spec sets `serving.adaptive_batching` also answers `POST /classify`
(`{"texts": ["..."]}` -> one prediction per message), with BentoML's adaptive batching: concurrent
requests are merged into one sentence-encoder batch. Each request is validated on its own before it is
merged, so a bad message is refused (4xx) without failing the requests batched with it.
"""

import sys
from http import HTTPStatus
from pathlib import Path
from typing import Annotated

try:
    import cxops  # noqa: F401
except ImportError:  # in a bento or its image the package ships as source beside this folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))

import bentoml  # noqa: E402
import pandas as pd  # noqa: E402
from bentoml.exceptions import BentoMLException  # noqa: E402
from pydantic import AfterValidator, Field  # noqa: E402

from cxops.config import Settings  # noqa: E402
from cxops.errors import CXOpsError  # noqa: E402
from cxops.serving.artifact import read_served_spec  # noqa: E402
from cxops.serving.kserve_protocol import PredictorSlot, create_kserve_app  # noqa: E402
from cxops.serving.predictor import Prediction  # noqa: E402
from cxops.serving.recommendation_app import create_recommendation_app  # noqa: E402
from cxops.serving.recommendation_sources import RecommendationServingSettings, RemoteChurn  # noqa: E402
from cxops.serving.runtime import load_predictor, load_recommender, resolve_target  # noqa: E402
from cxops.serving.schema import PredictionOut, feature_row_model  # noqa: E402
from cxops.telemetry import Telemetry, configure_telemetry  # noqa: E402

TARGET = resolve_target()
SPEC = read_served_spec(Path(bentoml.models.get(TARGET.model_tag).path))
RANKING = SPEC.recommendation is not None
BATCHING = SPEC.serving.adaptive_batching if SPEC.text is not None else None
"""Adaptive batching of `/classify` (text models only); None: the route is absent."""
FeatureRow = feature_row_model(SPEC)

_slot = PredictorSlot()
if RANKING:
    kserve_app = create_recommendation_app(_slot, server_name=f"cxops-{SPEC.name}")
else:
    kserve_app = create_kserve_app(_slot, server_name=f"cxops-{SPEC.name}")


def _http_error(exc: CXOpsError) -> BentoMLException:
    """BentoML answers its own exceptions with their status; anything else would be a 500."""
    return BentoMLException(exc.message, error_code=HTTPStatus(exc.status_code))


def _out(predictions: list[Prediction]) -> list[PredictionOut]:
    return [PredictionOut(**p.to_dict()) for p in predictions]


def _message_rows(texts: list[str]) -> list[dict[str, str]]:
    assert SPEC.text is not None
    return [{SPEC.text.column: text} for text in texts]


def _checked_messages(texts: list[str]) -> list[str]:
    """One `/classify` request, validated as the other routes validate it, before BentoML merges it.

    An error raised in the merged call would fail every request of the batch, so each request is checked
    while it is parsed. Pydantic lets a non-`ValueError` through, and BentoML answers its own exception
    with its status (422 blank or oversize message, 413 too many messages), as `/predict` does.
    """
    try:
        predictor = _slot.require()
        predictor.check_batch(len(texts), "messages")
        predictor.validate(_message_rows(texts))
    except CXOpsError as exc:
        raise _http_error(exc) from exc
    return texts


Messages = Annotated[
    list[str],
    Field(description="Customer messages; the answer holds one prediction per message, in order"),
    AfterValidator(_checked_messages),
]


def _service(cls: type) -> type:
    """The BentoML service of the model, with the KServe routes mounted on its port."""
    return bentoml.service(
        name=f"cxops-{SPEC.name}",
        description=SPEC.description,
        labels={"model": SPEC.name, "team": SPEC.team},
        workers=1,
        traffic={"timeout": 60},
    )(bentoml.asgi_app(kserve_app, path="/")(cls))


class _TracedService:
    """Traces and metrics of the served model (`CXOPS_OTEL_*`), flushed when the worker stops."""

    telemetry: Telemetry

    def start_telemetry(self, settings: Settings, model_version: str) -> None:
        self.telemetry = configure_telemetry(settings, f"cxops-model-{SPEC.name}", version=model_version)

    @bentoml.on_shutdown
    def flush_telemetry(self) -> None:
        self.telemetry.shutdown()


if RANKING:

    @_service
    class ModelService(_TracedService):
        """A recommendation model: its routes are all in the mounted app (`/v1/recommendations`, V2)."""

        bento_model = bentoml.models.BentoModel(TARGET.model_tag)

        def __init__(self) -> None:
            serving = RecommendationServingSettings()
            churn = RemoteChurn(serving.churn_url, serving.churn_timeout_s) if serving.churn_url else None
            settings = Settings()
            self.predictor = load_recommender(Path(self.bento_model.path), settings, churn=churn)
            self.start_telemetry(settings, self.predictor.model_version)
            _slot.set(self.predictor)

else:

    @_service
    class ModelService(_TracedService):
        bento_model = bentoml.models.BentoModel(TARGET.model_tag)

        def __init__(self) -> None:
            settings = Settings()
            self.predictor = load_predictor(Path(self.bento_model.path), settings)
            self.start_telemetry(settings, self.predictor.model_version)
            _slot.set(self.predictor)

        @bentoml.api
        def predict(self, rows: list[FeatureRow]) -> list[PredictionOut]:  # type: ignore[valid-type]
            """Score full feature vectors (every model input per row)."""
            try:
                return _out(self.predictor.predict_rows([r.model_dump(by_alias=True) for r in rows]))
            except CXOpsError as exc:
                raise _http_error(exc) from exc

        @bentoml.api
        def predict_customers(self, customer_ids: list[str]) -> list[PredictionOut]:
            """Score customers by id: their features come from the online feature store."""
            try:
                return _out(self.predictor.predict_customers(customer_ids))
            except CXOpsError as exc:
                raise _http_error(exc) from exc

        if BATCHING is not None:  # a text model with `serving.adaptive_batching` in its spec

            @bentoml.api(
                route="/classify",
                batchable=True,
                batch_dim=0,
                max_batch_size=BATCHING.max_batch_size,
                max_latency_ms=BATCHING.max_latency_ms,
            )
            def classify(self, texts: Messages) -> list[PredictionOut]:
                """Label messages, one prediction each; concurrent requests share one encoder batch."""
                # `texts` holds the merged requests, each already validated (`_checked_messages`): score
                # them as they are rather than validate them all again.
                assert SPEC.text is not None
                try:
                    return _out(self.predictor.predict_frame(pd.DataFrame({SPEC.text.column: texts})))
                except CXOpsError as exc:
                    raise _http_error(exc) from exc
