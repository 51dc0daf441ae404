"""The request log: KServe logger attributes, masked personal data, locked JSON-lines files."""

from __future__ import annotations

import json
import re
import struct
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cloudevents.http import from_dict, from_http

from cxops.canary._payload import compare_answers, customer_id
from cxops.canary.events import (
    EVENT_COMPARISON,
    EVENT_REQUEST,
    EVENT_RESPONSE,
    EventLog,
    EventWriter,
    PayloadMasker,
    binary_message,
    comparison_event,
    inference_event,
    log_root,
    read_events,
    request_records,
)
from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.features._offline import _locked
from cxops.privacy import pseudonymise

KEY = b"k" * 32
RAW_ID = "7590-VHVEG"
# CloudEvents: attribute names are lower-case letters and digits, at most 20 characters.
CE_NAME = re.compile(r"^[a-z0-9]{1,20}$")


def _masker() -> PayloadMasker:
    return PayloadMasker(lambda value: pseudonymise(value, KEY))


def _event(event_type: str, day: datetime, request_id: str = "r1", model: str = "churn", **extra) -> dict:
    return inference_event(
        event_type,
        request_id=request_id,
        source="http://127.0.0.1:8000/",
        model=model,
        endpoint="canary",
        version="2",
        data={"outputs": [{"name": "probability", "datatype": "FP64", "shape": [1], "data": [0.7]}]},
        time=day,
        **extra,
    )


def test_customer_ids_become_pseudonyms_and_text_is_masked_wherever_it_sits() -> None:
    masker = _masker()
    pid = pseudonymise(RAW_ID, KEY)
    v2 = {
        "id": "req-1",
        "inputs": [
            {"name": "customer_id", "datatype": "BYTES", "shape": [2], "data": [RAW_ID, "0002-ORFBO"]},
            {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["call me on 06 12 34 56 78"]},
        ],
    }
    masked = masker.mask(v2)
    assert masked["inputs"][0]["data"] == [pid, pseudonymise("0002-ORFBO", KEY)]
    assert masked["inputs"][1]["data"] == ["call me on <PHONE>"]
    assert masked["id"] == "req-1" and masked["inputs"][0]["name"] == "customer_id"
    assert v2["inputs"][0]["data"][0] == RAW_ID  # the caller's document is left alone

    v1 = masker.mask({"instances": [{"customer_id": RAW_ID}], "note": "jane.doe@example.com"})
    assert v1 == {"instances": [{"customer_id": pid}], "note": "<EMAIL>"}
    plain = masker.mask({"customer_ids": [RAW_ID], "text": "IBAN FR76 3000 6000 0112 3456 7890 189"})
    assert plain == {"customer_ids": [pid], "text": "IBAN <IBAN>"}
    answer = masker.mask({"predictions": [{"customer_id": RAW_ID, "probability": 0.4, "label": "no"}]})
    assert answer["predictions"][0] == {"customer_id": pid, "probability": 0.4, "label": "no"}


def test_binary_tensor_bytes_are_never_logged_and_non_json_gives_no_data() -> None:
    masker = _masker()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "customer_id",
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": 14},
                }
            ]
        }
    ).encode()
    body = header + struct.pack("<I", len(RAW_ID)) + RAW_ID.encode()
    masked = masker.mask_body(body, str(len(header)))
    assert RAW_ID not in json.dumps(masked) and masked["inputs"][0]["parameters"] == {"binary_data_size": 14}
    assert masker.mask_body(b"\x00\x01 not json") is None
    assert masker.mask_body(b"") is None
    # The gateway reads the id from the binary data for routing, though.
    assert customer_id(body, str(len(header))) == RAW_ID


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1, 1], "data": [[RAW_ID]]}]},
            RAW_ID,
        ),
        ({"instances": [{"customer_id": RAW_ID}, {"customer_id": "x"}]}, RAW_ID),
        ({"customer_id": RAW_ID, "k": 3}, RAW_ID),
        ({"customer_ids": [RAW_ID]}, RAW_ID),
        ({"inputs": [{"name": "tenure", "datatype": "INT64", "shape": [1], "data": [3]}]}, None),
        ({"instances": [{"tenure": 3}]}, None),
        ([1, 2], None),
    ],
)
def test_the_customer_of_a_request_is_found_in_every_protocol(body: object, expected: str | None) -> None:
    assert customer_id(json.dumps(body).encode()) == expected


def test_events_carry_the_kserve_logger_attributes_and_valid_cloudevents_names() -> None:
    day = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    request = _event(
        EVENT_REQUEST,
        day,
        subject="cx_abc",
        canary_id="churn-2",
        traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    )
    response = _event(EVENT_RESPONSE, day, status=200, latency_ms=3.14159, canary_id="churn-2", fallback=True)
    assert request["id"] == response["id"] == "r1"
    assert request["type"] == "org.kubeflow.serving.inference.request"
    assert response["type"] == "org.kubeflow.serving.inference.response"
    for event in (request, response):
        assert event["specversion"] == "1.0" and event["component"] == "predictor"
        assert event["inferenceservicename"] == "churn" and event["namespace"] == "local"
        assert event["time"] == "2026-11-30T12:00:00.000000Z"
        assert all(CE_NAME.match(name) for name in event if name != "data")
        parsed = from_dict(event)
        assert parsed["endpoint"] == "canary" and parsed.data == event["data"]
    assert response["cxopsstatus"] == 200 and response["cxopslatencyms"] == 3.142
    assert response["cxopsfallback"] is True and "cxopsstatus" not in request
    with pytest.raises(CXOpsError, match="not an inference event"):
        _event("com.example.other", day)


def test_binary_mode_messages_parse_as_cloudevents() -> None:
    event = _event(EVENT_RESPONSE, datetime.now(UTC), status=503, fallback=True)
    headers, body = binary_message(event)
    assert headers["ce-inferenceservicename"] == "churn" and headers["ce-cxopsstatus"] == "503"
    parsed = from_http(headers, body)
    assert parsed["id"] == "r1" and parsed["type"] == EVENT_RESPONSE
    assert parsed["endpoint"] == "canary" and parsed["cxopsfallback"] == "true"
    assert parsed.data == event["data"]


def test_events_go_to_one_file_per_model_and_day_and_read_back_in_time_order(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", root=tmp_path)
    log = EventLog(log_root(settings))
    d1 = datetime(2026, 11, 29, 23, 59, tzinfo=UTC)
    d2 = datetime(2026, 11, 30, 0, 1, tzinfo=UTC)
    assert log.append([_event(EVENT_RESPONSE, d2, "b"), _event(EVENT_REQUEST, d1, "a")]) == 2
    log.append([_event(EVENT_REQUEST, d2, "c", model="intent")])
    root = tmp_path / "home" / "logs"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jsonl")) == [
        "churn/2026-11-29.jsonl",
        "churn/2026-11-30.jsonl",
        "intent/2026-11-30.jsonl",
    ]
    assert [e["id"] for e in read_events(root)] == ["a", "b", "c"]
    assert [e["id"] for e in read_events(root / "churn")] == ["a", "b"]
    assert [e["id"] for e in read_events(root, since=d2)] == ["b", "c"]
    assert [e["id"] for e in read_events(root, since=d2.replace(tzinfo=None) - timedelta(minutes=1))] == [
        "b",
        "c",
    ]
    assert [e["id"] for e in read_events(root, event_type=EVENT_REQUEST)] == ["a", "c"]
    # A line cut short by a crash is skipped; the others still read.
    with (root / "churn" / "2026-11-30.jsonl").open("a") as handle:
        handle.write('{"specversion": "1.0", "id": "torn"')
    assert [e["id"] for e in read_events(root / "churn")] == ["a", "b"]
    assert read_events(tmp_path / "nowhere") == []
    with pytest.raises(CXOpsError, match="cannot name a log folder"):
        log.path("../etc", "2026-11-30")


def test_appends_and_a_concurrent_locked_rewrite_lose_no_line(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "logs")
    day = datetime(2026, 11, 30, 8, tzinfo=UTC)
    path = log.path("churn", "2026-11-30")
    erased: list[int] = []

    def write(worker: int) -> None:
        for i in range(50):
            log.append([_event(EVENT_REQUEST, day, f"w{worker}-{i}", subject=f"cx_{worker}")])

    def erase() -> None:  # what an erasure does: rewrite the file without one customer, under the lock
        for _ in range(20):
            if not path.exists():
                continue
            with _locked(path):
                lines = path.read_text().splitlines()
                kept = [line for line in lines if json.loads(line).get("subject") != "cx_0"]
                erased.append(len(lines) - len(kept))
                path.write_text("".join(line + "\n" for line in kept))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)] + [threading.Thread(target=erase)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [e["id"] for e in read_events(tmp_path / "logs")]
    others = {f"w{w}-{i}" for w in range(1, 4) for i in range(50)}
    assert others <= set(ids) and len(ids) == len(set(ids))  # every line whole, none lost or doubled
    assert len(ids) + sum(erased) == 200


def test_the_writer_thread_writes_in_the_background_and_flushes_on_demand(tmp_path: Path) -> None:
    writer = EventWriter(EventLog(tmp_path))
    day = datetime.now(UTC)
    for i in range(30):
        writer.submit([_event(EVENT_REQUEST, day, f"r{i}"), _event(EVENT_RESPONSE, day, f"r{i}", status=200)])
    assert writer.flush(5)
    assert len(read_events(tmp_path)) == 60 and writer.written == 60
    writer.submit([_event(EVENT_REQUEST, day, "last")])
    writer.close()
    assert read_events(tmp_path)[-1]["id"] == "last"


def test_analysis_records_and_shadow_comparisons() -> None:
    day = datetime(2026, 11, 30, 9, tzinfo=UTC)
    ok = _event(EVENT_RESPONSE, day, status=200, latency_ms=2.5)
    down = _event(EVENT_RESPONSE, day, "r2", status=502, latency_ms=1.0, error="unreachable")
    records = request_records([_event(EVENT_REQUEST, day), ok, down])
    assert records == [
        {
            "version": "2",
            "status": 200,
            "latency_ms": 2.5,
            "prediction": 0.7,
            "endpoint": "canary",
            "fallback": False,
            "timestamp": day,
        },
        {
            "version": "2",
            "status": None,
            "latency_ms": 1.0,
            "prediction": 0.7,
            "endpoint": "canary",
            "fallback": False,
            "timestamp": day,
        },
    ]

    def v2(labels: list[str], scores: list[float]) -> bytes:
        return json.dumps(
            {
                "outputs": [
                    {"name": "probability", "datatype": "FP64", "shape": [len(scores)], "data": scores},
                    {"name": "label", "datatype": "BYTES", "shape": [len(labels)], "data": labels},
                ]
            }
        ).encode()

    same = compare_answers(v2(["yes", "no"], [0.8, 0.1]), v2(["yes", "no"], [0.75, 0.15]))
    assert same["labels_agree"] and same["max_abs_diff"] == pytest.approx(0.05)
    differ = compare_answers(v2(["yes", "no"], [0.8, 0.1]), v2(["no", "no"], [0.4, 0.1]))
    assert not differ["labels_agree"] and differ["label_mismatches"] == 1
    assert differ["max_abs_diff"] == pytest.approx(0.4) and differ["mean_abs_diff"] == pytest.approx(0.2)
    v1 = compare_answers(
        b'{"predictions": [{"label": "a", "probability": 0.5}]}', b'[{"label": "a", "probability": 0.5}]'
    )
    assert v1["labels_agree"] and v1["max_abs_diff"] == 0
    assert compare_answers(v2(["yes"], [0.8]), b"oops")["comparable"] is False
    event = comparison_event(
        request_id="r9",
        source="http://gw/",
        model="churn",
        stable_version="1",
        shadow_version="3",
        comparison=same,
        time=day,
    )
    assert event["type"] == EVENT_COMPARISON and event["data"]["request_id"] == "r9"
    assert event["endpoint"] == "shadow" and all(CE_NAME.match(n) for n in event if n != "data")
