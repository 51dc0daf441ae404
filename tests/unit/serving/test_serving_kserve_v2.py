"""Open Inference Protocol (KServe V2) routes: metadata, health and infer (JSON and binary tensors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kserve import InferInput, InferRequest
from kserve.protocol.infer_type import RequestedOutput

INFER = "/v2/models/churn/infer"


def tensors(spec, rows: list[dict], **datatypes: str) -> list[dict]:
    """One tensor per model input: BYTES categories, INT64 integers, FP64 numbers (overridable by name)."""
    out = []
    for col in spec.features.inputs:
        default = {"category": "BYTES", "integer": "INT64", "number": "FP64"}[col.type]
        out.append(
            {
                "name": col.name,
                "shape": [len(rows)],
                "datatype": datatypes.get(col.name, default),
                "data": [r[col.name] for r in rows],
            }
        )
    return out


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_server_and_model_metadata(client, spec) -> None:
    assert client.get("/v2").json() == {"name": "cxops", "version": "0.1.0", "extensions": []}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/churn/ready").json() == {"name": "churn", "ready": True}
    meta = client.get("/v2/models/churn").json()
    assert meta["name"] == "churn" and meta["versions"] == ["7"]
    inputs = {t["name"]: t for t in meta["inputs"]}
    assert list(inputs) == spec.features.names
    assert inputs["Contract"] == {"name": "Contract", "datatype": "BYTES", "shape": [-1]}
    assert inputs["tenure"]["datatype"] == "INT64" and inputs["MonthlyCharges"]["datatype"] == "FP64"
    assert meta["outputs"] == [
        {"name": "probability", "datatype": "FP64", "shape": [-1]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ]
    assert client.get("/v2/models/churn/versions/7").status_code == 200
    assert "has no version '6'" in _error(client.get("/v2/models/churn/versions/6"), 404)
    assert "not served here" in _error(client.get("/v2/models/sentiment"), 404)


def test_infer_json_tensors(client, spec, classifier, rows) -> None:
    response = client.post(INFER, json={"id": "req-1", "inputs": tensors(spec, rows)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["model_name"], body["model_version"]) == ("req-1", "churn", "7")
    probability, label = body["outputs"]
    expected = classifier.predict_proba(pd.DataFrame(rows))
    assert probability["name"] == "probability" and probability["datatype"] == "FP64"
    assert probability["shape"] == [5]
    np.testing.assert_allclose(probability["data"], expected, rtol=1e-6)
    assert label == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [5],
        "data": list(classifier.labels(expected)),
    }


def test_infer_binary_tensors_from_the_kserve_client(client, spec, classifier, rows) -> None:
    """The KServe SDK's default encoding: JSON header plus raw little-endian tensor bytes."""
    inputs = []
    for col in spec.features.inputs:
        values = [r[col.name] for r in rows]
        if col.type == "category":
            tensor = InferInput(col.name, [len(rows)], "BYTES")
            tensor.set_data_from_numpy(np.array(values, dtype=object))
        elif col.type == "integer":
            tensor = InferInput(col.name, [len(rows)], "INT64")
            tensor.set_data_from_numpy(np.array(values, dtype=np.int64))
        else:
            tensor = InferInput(col.name, [len(rows)], "FP64")
            tensor.set_data_from_numpy(np.array(values, dtype=np.float64))
        inputs.append(tensor)
    request = InferRequest(
        "churn", inputs, request_id="bin-1", request_outputs=[RequestedOutput("probability")]
    )
    body, json_length = request.to_rest()
    assert json_length is not None
    response = client.post(
        INFER,
        content=body,
        headers={
            "inference-header-content-length": str(json_length),
            "content-type": "application/octet-stream",
        },
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert [o["name"] for o in outputs] == ["probability"]
    np.testing.assert_allclose(outputs[0]["data"], classifier.predict_proba(pd.DataFrame(rows)), rtol=1e-6)


def test_integers_may_come_as_fp64_and_rows_as_n_by_1(client, spec, rows) -> None:
    inputs = tensors(spec, rows, tenure="FP64", num_services="INT32")
    for tensor in inputs:
        tensor["shape"] = [len(rows), 1]
        tensor["data"] = [[v] for v in tensor["data"]]
    assert client.post(INFER, json={"inputs": inputs}).status_code == 200


def test_infer_by_customer_id(client, features) -> None:
    ids = list(features["customerID"].iloc[[3, 9]])
    tensor = {"name": "customer_id", "shape": [2], "datatype": "BYTES", "data": ids}
    response = client.post(INFER, json={"inputs": [tensor], "outputs": [{"name": "label"}]})
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["outputs"]] == ["label"]
    unknown = {**tensor, "data": [ids[0], "9999-UNKNOWN"]}
    assert "'9999-UNKNOWN'" in _error(client.post(INFER, json={"inputs": [unknown]}), 404)


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [
        (lambda t: t.pop(3), 422, "missing inputs ['tenure']"),
        (
            lambda t: t.append({"name": "gender", "shape": [5], "datatype": "BYTES", "data": ["F"] * 5}),
            422,
            "unknown inputs ['gender']",
        ),
        (lambda t: t.append(dict(t[0])), 422, "inputs ['SeniorCitizen'] are given more than once"),
        (
            lambda t: t[4].update(datatype="FP64"),
            422,
            "input 'Contract' (category) must have datatype BYTES; got FP64",
        ),
        (
            lambda t: t[18].update(datatype="BYTES"),
            422,
            "input 'MonthlyCharges' (number) must have datatype INT64",
        ),
        (lambda t: t[18].update(datatype="STRING"), 422, "must have datatype INT64 or FP64"),
        (lambda t: t[3].update(shape=[5, 2]), 422, "input 'tenure' must have shape [N] or [N, 1]"),
        (lambda t: t[3].update(shape=[4]), 422, "input 'tenure' has 4 rows but 'SeniorCitizen' has 5"),
        (lambda t: [x.update(shape=[6]) for x in t], 422, "shape [6] holds 6 elements but 5 were sent"),
        (
            lambda t: t[4]["data"].__setitem__(2, "Weekly"),
            422,
            "row 2 field 'Contract': unknown category 'Weekly'",
        ),
        (
            lambda t: t[18]["data"].__setitem__(0, "cheap"),
            422,
            "row 0 field 'MonthlyCharges': expected a number",
        ),
        (lambda t: t[0].pop("data"), 422, "input 'SeniorCitizen' has no 'data'"),
    ],
)
def test_bad_tensors_are_4xx_naming_the_problem(client, spec, rows, mutate, status, message) -> None:
    inputs = tensors(spec, rows)
    mutate(inputs)
    assert message in _error(client.post(INFER, json={"inputs": inputs}), status)


def test_malformed_requests(client, spec, rows) -> None:
    json_headers = {"content-type": "application/json"}
    assert "body is empty" in _error(client.post(INFER, content=b"", headers=json_headers), 400)
    assert "not valid JSON" in _error(client.post(INFER, content=b"[1,", headers=json_headers), 400)
    assert "JSON object" in _error(client.post(INFER, json=[1, 2]), 400)
    assert "inputs: Field required" in _error(client.post(INFER, json={"id": "x"}), 422)
    assert "inputs: List should have at least 1 item" in _error(client.post(INFER, json={"inputs": []}), 422)
    no_shape = {"inputs": [{"name": "a", "datatype": "BYTES"}]}
    assert "inputs.0.shape" in _error(client.post(INFER, json=no_shape), 422)
    unknown_output = {"inputs": tensors(spec, rows), "outputs": [{"name": "score"}]}
    assert "has no outputs ['score']" in _error(client.post(INFER, json=unknown_output), 422)
    assert "not served here" in _error(client.post("/v2/models/intent/infer", json={"inputs": []}), 404)
    header = {"inference-header-content-length": "999"}
    assert "body has" in _error(client.post(INFER, content=b'{"inputs": []}', headers=header), 400)


def test_oversize_batch_is_413(client, spec, rows) -> None:
    response = client.post(INFER, json={"inputs": tensors(spec, rows * 201)})
    assert "batch of 1005 rows exceeds" in _error(response, 413)


def test_customer_id_tensor_must_be_alone_and_bytes(client, spec, rows) -> None:
    ids = {"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": ["a"]}
    response = client.post(INFER, json={"inputs": [ids, *tensors(spec, rows)]})
    assert "must be the only input" in _error(response, 422)
    assert "datatype BYTES" in _error(
        client.post(INFER, json={"inputs": [{**ids, "datatype": "INT64", "data": [1]}]}), 422
    )
