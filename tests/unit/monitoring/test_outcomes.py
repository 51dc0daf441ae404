"""Late outcomes joined to the request log (the answer the customer got), and realised metrics per version and
period, on SQLite and PostgreSQL; the two `cxops monitor` commands on the embedded store."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from cxops.canary.events import (
    ENDPOINT_CANARY,
    ENDPOINT_DEFAULT,
    EVENT_REQUEST,
    EVENT_RESPONSE,
    EventLog,
    inference_event,
    log_root,
)
from cxops.cli import _monitor_outcomes
from cxops.cli._output import console
from cxops.config import Settings
from cxops.governance.errors import PermissionDeniedError
from cxops.governance.service import Governance
from cxops.monitoring.errors import MonitoringInvalidError
from cxops.monitoring.outcomes import OutcomeIn, OutcomeService, RowRef
from cxops.registry._schema import Outcome

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
DAY1 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _v1(label: str, probability: float) -> dict[str, Any]:
    return {"predictions": [{"label": label, "probability": probability}]}


def _v2(labels: list[str], probabilities: list[float]) -> dict[str, Any]:
    return {
        "model_name": "churn",
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [len(labels)], "data": labels},
            {"name": "probability", "datatype": "FP32", "shape": [len(labels)], "data": probabilities},
        ],
    }


def _call(
    request_id: str,
    version: str,
    data: Any,
    at: datetime,
    *,
    model: str = "churn",
    status: int | None = 200,
    error: str | None = None,
    endpoint: str = ENDPOINT_DEFAULT,
    fallback: bool = False,
) -> list[dict[str, Any]]:
    """The request and response events of one logged call."""
    common: dict[str, Any] = {
        "request_id": request_id,
        "source": "http://gateway/",
        "model": model,
        "endpoint": endpoint,
        "version": version,
        "fallback": fallback,
        "time": at,
    }
    return [
        inference_event(EVENT_REQUEST, data={"customer_id": "pseudo"}, **common),
        inference_event(EVENT_RESPONSE, data=data, status=status, error=error, latency_ms=3.0, **common),
    ]


def _churn_log(settings: Settings) -> None:
    """Version 1 on day 1: a, b, c, d (hand-checked below); day 2: e, whose candidate call (v2) failed and
    was retried on v1. Version 2 on day 2: f, a two-row batch, and g, which failed with no retry. h was
    answered by v2 and retried on v1: the retry is what the customer got."""
    events = [
        *_call("a", "1", _v1("Yes", 0.8), DAY1),
        *_call("b", "1", _v1("No", 0.4), DAY1.replace(hour=10)),
        *_call("c", "1", _v1("No", 0.35), DAY1.replace(hour=11)),
        *_call("d", "1", _v1("No", 0.1), DAY1.replace(hour=12)),
        *_call("e", "2", None, DAY2, status=502, error="unreachable", endpoint=ENDPOINT_CANARY),
        *_call("e-fallback", "1", _v1("No", 0.3), DAY2.replace(second=1), fallback=True),
        *_call("f", "2", _v2(["Yes"], [0.7]), DAY2.replace(hour=10), endpoint=ENDPOINT_CANARY),
        *_call("batch", "2", _v2(["Yes", "No"], [0.6, 0.1]), DAY2.replace(hour=11), endpoint=ENDPOINT_CANARY),
        *_call("g", "2", {"error": "boom"}, DAY2.replace(hour=12), status=500, endpoint=ENDPOINT_CANARY),
        # A logger that records no status (KServe's) and a clock skew that puts the retry first.
        *_call("h", "2", _v1("Yes", 0.9), DAY2.replace(hour=13, microsecond=2000), status=None),
        *_call("h-fallback", "1", _v1("No", 0.2), DAY2.replace(hour=13, microsecond=1000), fallback=True),
    ]
    EventLog(log_root(settings)).append(events)


def _register(gov: Governance, model: str, count: int) -> None:
    for _ in range(count):
        gov.registry.register_version(
            model,
            metrics={},
            artifacts={},
            params={},
            lineage={},
            owner="cx-analytics",
            team="retention",
            created_by="pipeline-bot",
            dataset_version=None,
        )


@pytest.fixture
def gov(tmp_path: Path, database_url: str) -> Iterator[Governance]:
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    with Governance.from_settings(settings) as opened:
        opened.clock = lambda: NOW
        _register(opened, "churn", 2)
        _churn_log(settings)
        yield opened


@pytest.fixture
def service(gov: Governance) -> OutcomeService:
    return OutcomeService(gov)


def _outcomes(*items: tuple[str, str] | tuple[str, str, int]) -> list[OutcomeIn]:
    return [
        OutcomeIn(prediction_id=item[0], outcome=item[1], row=item[2] if len(item) > 2 else 0)
        for item in items
    ]


def _stored(gov: Governance) -> dict[tuple[str, int], Outcome]:
    with gov.registry.reading() as session:
        return {(o.prediction_id, o.row): o for o in session.scalars(sa.select(Outcome))}


def test_outcomes_join_the_answer_the_customer_got(gov: Governance, service: OutcomeService) -> None:
    observed = datetime(2026, 12, 8, 15, 30)  # naive: UTC
    items = [
        OutcomeIn(prediction_id="a", outcome="Yes", observed_at=observed),
        *_outcomes(
            ("e", "No"), ("batch", "No", 1), ("batch", "Yes", 5), ("g", "Yes"), ("nope", "No"), ("h", "No")
        ),
    ]
    receipt = service.record(gov.actor("crm-feedback"), "churn", items)
    assert receipt.recorded == 4 and receipt.duplicates == 0
    assert receipt.unknown == ["g", "nope"]  # g failed and was not retried: no answer to judge
    assert receipt.rows_out_of_range == [RowRef(prediction_id="batch", row=5)]
    stored = _stored(gov)
    assert set(stored) == {("a", 0), ("e", 0), ("batch", 1), ("h", 0)}
    assert (stored["h", 0].version, stored["h", 0].predicted) == (1, "No")
    a, e, batch = stored["a", 0], stored["e", 0], stored["batch", 1]
    assert (a.version, a.predicted, a.probability, a.outcome) == (1, "Yes", 0.8, "Yes")
    assert a.predicted_at == DAY1 and a.observed_at == observed.replace(tzinfo=UTC)
    # The candidate (v2) failed; the customer got stable's retry, so v1's answer is what is judged.
    assert (e.version, e.predicted, e.probability, e.predicted_at) == (1, "No", 0.3, DAY2.replace(second=1))
    assert (batch.version, batch.predicted, batch.probability) == (2, "No", pytest.approx(0.1))
    assert {o.recorded_by for o in stored.values()} == {"crm-feedback"}
    assert e.observed_at == NOW and e.recorded_at == NOW


def test_a_recorded_prediction_is_a_duplicate_and_keeps_its_first_outcome(
    gov: Governance, service: OutcomeService
) -> None:
    feedback = gov.actor("crm-feedback")
    assert service.record(feedback, "churn", _outcomes(("a", "Yes"))).recorded == 1
    again = service.record(feedback, "churn", _outcomes(("a", "No"), ("b", "No"), ("b", "Yes")))
    assert (again.recorded, again.duplicates) == (1, 2)
    # An id the gateway logged for the retry names the same prediction.
    assert service.record(feedback, "churn", _outcomes(("e-fallback", "Yes"))).recorded == 1
    assert service.record(feedback, "churn", _outcomes(("e", "No"))).duplicates == 1
    outcomes = {key: row.outcome for key, row in _stored(gov).items()}
    assert outcomes == {("a", 0): "Yes", ("b", 0): "No", ("e", 0): "Yes"}


def test_concurrent_calls_record_each_outcome_once(gov: Governance, service: OutcomeService) -> None:
    items = _outcomes(("a", "Yes"), ("b", "No"), ("c", "Yes"))
    barrier, receipts = threading.Barrier(2), []

    def record() -> None:
        barrier.wait()
        receipts.append(service.record(gov.actor("crm-feedback"), "churn", items))

    threads = [threading.Thread(target=record) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((r.recorded, r.duplicates) for r in receipts) == [(0, 3), (3, 0)]
    assert len(_stored(gov)) == 3


def test_an_outcome_that_is_not_a_label_refuses_the_whole_call(
    gov: Governance, service: OutcomeService
) -> None:
    before = gov.registry.verify_audit().events
    with pytest.raises(MonitoringInvalidError) as refused:
        service.record(gov.actor("crm-feedback"), "churn", _outcomes(("a", "Yes"), ("b", "yes"), ("c", "1")))
    message = str(refused.value)
    assert "'yes', '1'" in message and "prediction 'b'" in message and "'No', 'Yes'" in message
    assert refused.value.status_code == 422
    assert _stored(gov) == {} and gov.registry.verify_audit().events == before


def test_only_a_feedback_role_records_outcomes(gov: Governance, service: OutcomeService) -> None:
    before = gov.registry.verify_audit().events
    with pytest.raises(PermissionDeniedError, match="outcomes.record"):
        service.record(gov.actor("triage-service"), "churn", _outcomes(("a", "Yes")))
    assert _stored(gov) == {} and gov.registry.verify_audit().events == before


def test_each_call_is_audited_with_counts_only(gov: Governance, service: OutcomeService) -> None:
    service.record(
        gov.actor("crm-feedback"), "churn", _outcomes(("a", "Yes"), ("f", "No"), ("nope", "No"), ("a", "No"))
    )
    [event] = gov.registry.audit_events(action="outcomes.")
    assert (event.action, event.actor, event.role, event.model) == (
        "outcomes.recorded",
        "crm-feedback",
        "feedback",
        "churn",
    )
    assert event.payload == {
        "received": 4,
        "recorded": 2,
        "duplicates": 1,
        "unknown": 1,
        "rows_out_of_range": 0,
        "recorded_by_version": {"1": 1, "2": 1},
    }
    assert gov.registry.verify_audit().ok


def _record_all(gov: Governance, service: OutcomeService) -> None:
    # v1 day 1: a Yes/.8 ✓, b No/.4 ✓, c No/.35 but Yes ✗, d No/.1 ✓; day 2: e No/.3 ✓.
    # v2 day 2: f Yes/.7 ✓, batch row 0 Yes/.6 but No ✗.
    service.record(
        gov.actor("crm-feedback"),
        "churn",
        _outcomes(
            ("a", "Yes"), ("b", "No"), ("c", "Yes"), ("d", "No"), ("e", "No"), ("f", "Yes"), ("batch", "No")
        ),
    )


def test_realised_metrics_per_version_and_day(gov: Governance, service: OutcomeService) -> None:
    _record_all(gov, service)
    rows = service.realised(gov.actor("triage-service"), "churn")
    assert [(r.version, r.period, r.n) for r in rows] == [
        (1, "2026-12-01", 4),
        (1, "2026-12-02", 1),
        (2, "2026-12-02", 2),
    ]
    day1, day2, v2 = rows
    assert day1.start == DAY1.replace(hour=0) and day1.accuracy == pytest.approx(3 / 4)
    # (0.2² + 0.4² + 0.65² + 0.1²) / 4; positives .8 and .35 against negatives .4 and .1: 3 of 4 pairs.
    assert day1.brier == pytest.approx(0.6325 / 4) and day1.roc_auc == pytest.approx(0.75)
    assert (day1.predicted_positive_rate, day1.observed_positive_rate) == (0.25, 0.5)
    assert day2.accuracy == 1.0 and day2.roc_auc is None  # one class only
    assert v2.accuracy == 0.5 and v2.brier == pytest.approx((0.3**2 + 0.6**2) / 2)
    assert v2.roc_auc == pytest.approx(1.0) and v2.predicted_positive_rate == 1.0


def test_realised_metrics_by_week_and_overall_and_since(gov: Governance, service: OutcomeService) -> None:
    _record_all(gov, service)
    reader = gov.actor("maya")
    [week] = service.realised(reader, "churn", version=1, bucket="week")
    assert (week.period, week.start, week.n) == ("2026-W49", datetime(2026, 11, 30, tzinfo=UTC), 5)
    assert week.accuracy == pytest.approx(4 / 5)
    [v1, v2] = service.realised(reader, "churn", bucket="all")
    assert (v1.period, v1.start, v1.n, v2.start, v2.n) == ("all", DAY1, 5, DAY2.replace(hour=10), 2)
    later = service.realised(reader, "churn", since=DAY2, bucket="all")
    assert [(r.version, r.n) for r in later] == [(1, 1), (2, 2)]
    with pytest.raises(MonitoringInvalidError, match="use one of: day, week, all"):
        service.realised(reader, "churn", bucket="month")  # type: ignore[arg-type]


def test_performance_of_one_version_for_the_monitoring_policy(
    gov: Governance, service: OutcomeService
) -> None:
    assert service.performance("churn", 1, since=None) is None
    _record_all(gov, service)
    overall = service.performance("churn", 1, since=None)
    assert overall is not None and (overall.n, overall.accuracy) == (5, pytest.approx(0.8))
    recent = service.performance("churn", 2, since=DAY2)
    assert recent is not None and recent.n == 2 and recent.brier == pytest.approx(0.225)
    assert recent.to_dict()["start"] == "2026-12-02T10:00:00Z" and recent.to_dict()["period"] == "all"
    assert service.performance("churn", 2, since=datetime(2026, 12, 3, tzinfo=UTC)) is None


def test_a_multiclass_model_gets_accuracy_only(gov: Governance, service: OutcomeService) -> None:
    _register(gov, "sentiment", 1)
    EventLog(log_root(gov.settings)).append(
        [
            *_call("s1", "1", _v1("negative", 0.9), DAY1, model="sentiment"),
            *_call("s2", "1", _v1("neutral", 0.5), DAY1, model="sentiment"),
        ]
    )
    receipt = service.record(
        gov.actor("crm-feedback"),
        "sentiment",
        _outcomes(("s1", "negative"), ("s2", "positive"), ("a", "neutral")),
    )
    assert receipt.recorded == 2 and receipt.unknown == ["a"]  # a is a churn prediction
    [row] = service.realised(gov.actor("maya"), "sentiment")
    assert (row.n, row.accuracy, row.brier, row.roc_auc, row.observed_positive_rate) == (
        2,
        0.5,
        None,
        None,
        None,
    )


# The commands, on the embedded SQLite store ---------------------------------------------------------------

_cli = typer.Typer()
_cli.command("outcomes")(_monitor_outcomes.outcomes)
_cli.command("performance")(_monitor_outcomes.performance)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = Settings(home=tmp_path / "home")
    monkeypatch.setenv("CXOPS_HOME", str(settings.home))
    monkeypatch.delenv("CXOPS_DATABASE_URL", raising=False)
    monkeypatch.delenv("CXOPS_API_URL", raising=False)
    monkeypatch.setattr(console, "width", 200)
    with Governance.from_settings(settings) as gov:
        _register(gov, "churn", 2)
    _churn_log(settings)
    return settings


def _run(monkeypatch: pytest.MonkeyPatch, user: str, *args: str) -> Any:
    monkeypatch.setenv("CXOPS_ACTOR", user)
    return CliRunner().invoke(_cli, list(args))


def test_the_commands_record_a_csv_and_print_realised_metrics(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "churned.csv"
    csv.write_text(
        "prediction_id,outcome,row,observed_at\n"
        "a,Yes,,2026-12-05\nb,No,0,\nc,Yes,,\nd,No,,\nbatch,No,7,\nlost,Yes,,\n"
    )
    recorded = _run(monkeypatch, "crm-feedback", "outcomes", "churn", str(csv))
    assert recorded.exit_code == 0, recorded.output
    assert "recorded 4 outcome(s) of 6" in recorded.output
    assert "1 prediction id(s) not in the request log of churn: lost" in recorded.output
    assert "batch row 7" in recorded.output
    shown = _run(monkeypatch, "dana", "performance", "churn", "--since", "2026-12-01", "--bucket", "all")
    assert shown.exit_code == 0, shown.output
    assert "v1" in shown.output and "0.750" in shown.output and "0.158" in shown.output
    as_json = _run(monkeypatch, "dana", "performance", "churn", "--version", "2", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.output) == []


def test_the_outcome_command_refuses_a_bad_file_before_recording(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("prediction_id,outcomes\na,Yes\n")
    refused = _run(monkeypatch, "crm-feedback", "outcomes", "churn", str(csv))
    assert isinstance(refused.exception, MonitoringInvalidError)
    assert "missing ['outcome']" in str(refused.exception) and "unknown ['outcomes']" in str(
        refused.exception
    )
    csv.write_text("prediction_id,outcome,row\na,Yes,first\n")
    refused = _run(monkeypatch, "crm-feedback", "outcomes", "churn", str(csv))
    assert "line 2: row" in str(refused.exception)
    bucket = _run(monkeypatch, "dana", "performance", "churn", "--bucket", "month")
    assert bucket.exit_code != 0 and "use one of: day, week, all" in bucket.output
    with Governance.from_settings(home) as gov:
        assert _stored(gov) == {}
