"""A model server's KServe routes, traced and measured: the request span continues the caller's trace, the
Feast lookup and the model call are its children, and the request metrics name model and version."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind, StatusCode

from cxops.serving.kserve_protocol import create_kserve_app
from cxops.telemetry.instruments import ERRORS, FEAST_LOOKUP_DURATION, REQUEST_DURATION, REQUESTS

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"
V2_ROUTE = "/v2/models/{name}/infer"


@pytest.fixture
def client(recorded, make_predictor) -> TestClient:
    app = create_kserve_app(make_predictor(recorded.telemetry), telemetry=recorded.telemetry)
    return TestClient(app)


def _by_customers(ids: list[str]) -> dict:
    return {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [len(ids)], "data": ids}]}


def test_a_customer_request_continues_the_callers_trace_through_feast_and_the_model(
    client, recorded, customers, churn_spec
) -> None:
    response = client.post(
        "/v2/models/churn/infer", json=_by_customers(customers[:3]), headers={"traceparent": TRACEPARENT}
    )
    assert response.status_code == 200, response.text

    server = recorded.span("cxops.model.predict")
    assert server.kind is SpanKind.SERVER
    assert server.context.trace_id == TRACE_ID
    assert server.parent is not None and server.parent.is_remote and server.parent.span_id == PARENT_ID
    assert {
        key: server.attributes[key]
        for key in (
            "cxops.model",
            "cxops.model.version",
            "http.route",
            "cxops.serving.protocol",
            "cxops.serving.rows",
            "http.response.status_code",
        )
    } == {
        "cxops.model": "churn",
        "cxops.model.version": "7",
        "http.route": V2_ROUTE,
        "cxops.serving.protocol": "kserve-v2",
        "cxops.serving.rows": 3,
        "http.response.status_code": 200,
    }
    assert server.resource.attributes["service.name"] == "cxops-model-churn"

    feast = recorded.span("feast.get_online_features")
    model_call = recorded.span("cxops.model.call")
    for child in (feast, model_call):
        assert child.context.trace_id == TRACE_ID
        assert child.parent.span_id == server.context.span_id
    assert feast.kind is SpanKind.CLIENT
    assert feast.attributes["feast.feature_service"] == churn_spec.features.feature_service
    assert (feast.attributes["feast.entity_rows"], feast.attributes["feast.missing_entities"]) == (3, 0)
    assert dict(model_call.attributes) == {
        "cxops.model": "churn",
        "cxops.model.version": "7",
        "cxops.serving.rows": 3,
    }
    assert feast.end_time <= model_call.start_time  # looked up, then scored

    ((attributes, requests),) = recorded.points(REQUESTS)
    assert attributes == {"model": "churn", "version": "7", "route": V2_ROUTE, "status_class": "2xx"}
    assert requests.value == 1
    ((attributes, duration),) = recorded.points(REQUEST_DURATION)
    assert attributes["model"] == "churn" and attributes["version"] == "7"
    assert duration.count == 1 and 0 < duration.sum < 5
    ((attributes, lookup),) = recorded.points(FEAST_LOOKUP_DURATION)
    assert (
        attributes == {"model": "churn", "feature_service": churn_spec.features.feature_service}
        and lookup.count == 1
    )
    assert recorded.points(ERRORS) == []


def test_a_request_without_traceparent_starts_a_trace_of_its_own(client, recorded, customers) -> None:
    client.post("/v2/models/churn/infer", json=_by_customers(customers[:1]))
    server = recorded.span("cxops.model.predict")
    assert server.parent is None and server.context.trace_id != TRACE_ID
    assert recorded.span("cxops.model.call").parent.span_id == server.context.span_id


def test_feature_rows_over_v1_are_scored_without_a_lookup(
    client, recorded, churn_spec, churn_features
) -> None:
    rows = churn_features[churn_spec.features.names].head(4)
    instances = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows.to_dict("records")
    ]
    response = client.post("/v1/models/churn:predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    server = recorded.span("cxops.model.predict")
    assert server.attributes["cxops.serving.protocol"] == "kserve-v1"
    assert server.attributes["cxops.serving.rows"] == 4
    assert recorded.span("cxops.model.call").attributes["cxops.serving.rows"] == 4
    assert not [s for s in recorded.spans.get_finished_spans() if s.name == "feast.get_online_features"]
    ((attributes, _),) = recorded.points(REQUESTS)
    assert attributes["route"] == "/v1/models/{name}:predict"


def test_errors_are_counted_by_kind_and_version(client, recorded, customers) -> None:
    unknown = client.post("/v2/models/churn/infer", json=_by_customers([customers[0], customers[-1]]))
    assert unknown.status_code == 404
    feast = recorded.span("feast.get_online_features")
    assert feast.attributes["feast.missing_entities"] == 1
    server = recorded.span("cxops.model.predict")
    assert server.attributes["error.type"] == "NotFoundError"
    assert server.attributes["http.response.status_code"] == 404
    assert server.status.status_code is StatusCode.UNSET  # the client's mistake, not the server's
    # No customer id reaches the trace (the error message names them).
    assert customers[-1] not in str([s.to_json() for s in recorded.spans.get_finished_spans()])

    assert client.post("/v2/models/churn/infer", content=b"{").status_code == 400
    assert client.post("/v2/models/churn/infer", json=_by_customers(customers[:1])).status_code == 200

    errors = {attributes["kind"]: point.value for attributes, point in recorded.points(ERRORS)}
    assert errors == {"NotFoundError": 1, "InvalidInputError": 1}
    assert {attributes["version"] for attributes, _ in recorded.points(ERRORS)} == {"7"}
    requests = {attributes["status_class"]: point.value for attributes, point in recorded.points(REQUESTS)}
    assert requests == {"4xx": 2, "2xx": 1}


def test_a_server_failure_marks_the_span_as_an_error(recorded, make_predictor, customers) -> None:
    predictor = make_predictor(recorded.telemetry)

    def broken(frame, customer_ids=None):
        raise RuntimeError("scoring failed")

    predictor.predict_frame = broken
    client = TestClient(
        create_kserve_app(predictor, telemetry=recorded.telemetry), raise_server_exceptions=False
    )
    assert client.post("/v2/models/churn/infer", json=_by_customers(customers[:1])).status_code == 500
    server = recorded.span("cxops.model.predict")
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["error.type"] == "RuntimeError"
    ((attributes, point),) = recorded.points(ERRORS)
    assert attributes == {"model": "churn", "version": "7", "kind": "RuntimeError"} and point.value == 1


def test_health_and_metadata_requests_are_not_traced(client, recorded) -> None:
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/churn").status_code == 200
    assert recorded.spans.get_finished_spans() == ()
    assert recorded.points(REQUESTS) == []
