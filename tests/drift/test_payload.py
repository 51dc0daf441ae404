"""Request bodies of every protocol become rows; CloudEvents envelopes are read in every mode."""

from __future__ import annotations

import base64
import json

import pytest

from cxops_drift.bundle import load_bundle
from cxops_drift.errors import InvalidError
from cxops_drift.events import parse_events
from cxops_drift.payload import rows_of_request


@pytest.fixture
def churn_spec(tabular_bundle):
    return load_bundle(tabular_bundle(rows=50)).spec


@pytest.fixture
def text_spec(text_bundle):
    return load_bundle(text_bundle(rows=50)).spec


@pytest.mark.parametrize("nested", [False, True])
def test_v2_columnar_tensors_become_rows(churn_spec, nested: bool) -> None:
    def tensor(name: str, datatype: str, values: list) -> dict:
        if nested:
            return {
                "name": name,
                "datatype": datatype,
                "shape": [len(values), 1],
                "data": [[v] for v in values],
            }
        return {"name": name, "datatype": datatype, "shape": [len(values)], "data": values}

    body = {
        "inputs": [
            tensor("tenure", "INT64", [3, 40]),
            tensor("Contract", "BYTES", ["One year", "Two year"]),
            tensor("customer_id", "BYTES", ["c1", "c2"]),  # an id travelling beside the features
        ]
    }
    request = rows_of_request(churn_spec, body)
    assert request.rows == [{"tenure": 3, "Contract": "One year"}, {"tenure": 40, "Contract": "Two year"}]
    assert not request.id_only


def test_v2_tensor_shapes_are_checked(churn_spec) -> None:
    wide = {"inputs": [{"name": "tenure", "datatype": "INT64", "shape": [2, 2], "data": [1, 2, 3, 4]}]}
    with pytest.raises(InvalidError, match=r"'tenure'\) has shape \[2, 2\]"):
        rows_of_request(churn_spec, wide)
    short = {"inputs": [{"name": "tenure", "datatype": "INT64", "shape": [3], "data": [1, 2]}]}
    with pytest.raises(InvalidError, match="has shape \\[3\\] but 2 values"):
        rows_of_request(churn_spec, short)
    uneven = {
        "inputs": [
            {"name": "tenure", "datatype": "INT64", "shape": [2], "data": [1, 2]},
            {"name": "Contract", "datatype": "BYTES", "shape": [1], "data": ["One year"]},
        ]
    }
    with pytest.raises(InvalidError, match="different numbers of rows"):
        rows_of_request(churn_spec, uneven)


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": ["c1"]}]},
        {"instances": [{"customer_id": "c1"}, {"customer_id": "c2"}]},
        {"customer_ids": ["c1", "c2"]},
        {"customerID": "c9"},
    ],
)
def test_id_only_requests_are_counted_not_rows(churn_spec, body: dict) -> None:
    request = rows_of_request(churn_spec, body)
    assert request.id_only and request.rows == []


def test_v1_instances_and_json_rows(churn_spec) -> None:
    row = {"tenure": 3, "Contract": "One year", "customer_id": "c1"}
    assert rows_of_request(churn_spec, {"instances": [row]}).rows == [row]
    assert rows_of_request(churn_spec, {"rows": [row, row]}).rows == [row, row]
    ordered = [list(range(len(churn_spec.features)))]
    assert rows_of_request(churn_spec, {"instances": ordered}).rows[0]["SeniorCitizen"] == 5
    with pytest.raises(InvalidError, match="list of 2 values but the model watches 6 features"):
        rows_of_request(churn_spec, {"instances": [[1, 2]]})


def test_text_bodies(text_spec) -> None:
    assert rows_of_request(text_spec, {"texts": ["a", "b"]}).rows == [{"text": "a"}, {"text": "b"}]
    assert rows_of_request(text_spec, {"instances": ["a"]}).rows == [{"text": "a"}]
    assert rows_of_request(text_spec, {"instances": [{"text": "a"}]}).rows == [{"text": "a"}]
    assert rows_of_request(text_spec, {"text": "hello"}).rows == [{"text": "hello"}]
    v2 = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2, 1], "data": ["x", "y"]}]}
    assert rows_of_request(text_spec, v2).rows == [{"text": "x"}, {"text": "y"}]


def test_an_unknown_body_shape_says_which_shapes_are_known(churn_spec) -> None:
    with pytest.raises(InvalidError) as caught:
        rows_of_request(churn_spec, {"features": [1, 2]})
    assert "V2 'inputs'" in caught.value.message and "got keys ['features']" in caught.value.message
    assert caught.value.status_code == 400


HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "r1",
    "ce-type": "org.kubeflow.serving.inference.request",
    "ce-source": "http://localhost:9081/",
    "ce-inferenceservicename": "churn",
    "ce-cxopsversion": "7",
    "ce-time": "2026-12-07T17:00:00Z",
    "content-type": "application/json",
}


def test_binary_mode_reads_attributes_from_headers() -> None:
    (event,) = parse_events(HEADERS, b'{"rows": []}')
    assert (event.model, event.version, event.id) == ("churn", "7", "r1")
    assert event.time.isoformat() == "2026-12-07T17:00:00+00:00"
    assert event.data_json() == {"rows": []}


def test_structured_and_batch_modes() -> None:
    event = {
        "specversion": "1.0",
        "id": "r2",
        "type": "org.kubeflow.serving.inference.request",
        "source": "s",
        "inferenceservicename": "churn",
        "data": {"rows": [{"tenure": 1}]},
    }
    (one,) = parse_events({"content-type": "application/cloudevents+json"}, json.dumps(event).encode())
    assert one.data_json() == {"rows": [{"tenure": 1}]} and one.version is None
    encoded = {k: v for k, v in event.items() if k != "data"} | {
        "data_base64": base64.b64encode(b'{"texts": ["hi"]}').decode()
    }
    batch = parse_events(
        {"content-type": "application/cloudevents-batch+json; charset=utf-8"},
        json.dumps([event, encoded]).encode(),
    )
    assert [e.data_json() for e in batch] == [{"rows": [{"tenure": 1}]}, {"texts": ["hi"]}]


def test_malformed_envelopes_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidError, match="not a CloudEvent"):
        parse_events({"content-type": "application/json"}, b"{}")
    with pytest.raises(InvalidError, match=r"lacks the CloudEvents attributes \['id', 'source'\]"):
        parse_events({"ce-specversion": "1.0", "ce-type": "t"}, b"{}")
    with pytest.raises(InvalidError, match="batch-mode CloudEvents body is not valid JSON"):
        parse_events({"content-type": "application/cloudevents-batch+json"}, b"[{")
    with pytest.raises(InvalidError, match=r"batch event \[1\] must be a JSON object"):
        good = {"specversion": "1.0", "id": "a", "type": "t", "source": "s"}
        parse_events({"content-type": "application/cloudevents-batch+json"}, json.dumps([good, 3]).encode())
    (event,) = parse_events(HEADERS, b"{oops")
    with pytest.raises(InvalidError, match="event 'r1'.*not valid JSON"):
        event.data_json()
