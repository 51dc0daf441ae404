"""`POST /v1/models/{model}/outcomes` and `GET /v1/models/{model}/performance`: a system of record reports
outcomes, readers see realised metrics; too many, invalid or unauthorised outcomes change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from cxops.api.routes.outcomes import router
from cxops.canary.events import EVENT_REQUEST, EVENT_RESPONSE, EventLog, inference_event, log_root
from cxops.monitoring.outcomes import MAX_OUTCOMES_PER_CALL
from cxops.registry._schema import Outcome

if TYPE_CHECKING:
    from tests.unit.api.conftest import World

FEEDBACK = "crm-feedback"
PREDICTED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _served(world: World) -> World:
    """The world's app with the outcome routes (added here unless the app already serves them), a token for
    the CRM, and two logged churn predictions of version 1: p1 (Yes, 0.8) and p2 (No, 0.3)."""
    if not any(getattr(route, "path", "") == "/v1/models/{model}/outcomes" for route in world.app.routes):
        world.app.include_router(router)
    world.tokens[FEEDBACK] = world.issue(FEEDBACK, "crm")[0]
    world.role_of[FEEDBACK] = "feedback"
    events = []
    for request_id, label, probability in (("p1", "Yes", 0.8), ("p2", "No", 0.3)):
        common: dict[str, Any] = {
            "request_id": request_id,
            "source": "http://gateway/",
            "model": "churn",
            "endpoint": "default",
            "version": "1",
            "time": PREDICTED_AT,
        }
        events.append(inference_event(EVENT_REQUEST, data={"instances": [{}]}, **common))
        events.append(
            inference_event(
                EVENT_RESPONSE,
                data={"predictions": [{"label": label, "probability": probability}]},
                status=200,
                **common,
            )
        )
    EventLog(log_root(world.settings)).append(events)
    return world


@pytest.fixture
def served(world: World) -> World:
    """On SQLite and PostgreSQL."""
    return _served(world)


@pytest.fixture
def served_sqlite(sqlite_world: World) -> World:
    return _served(sqlite_world)


def _outcomes(world: World) -> list[tuple[str, str]]:
    with world.gov.registry.reading() as session:
        return sorted(session.execute(sa.select(Outcome.prediction_id, Outcome.outcome)).all())


def test_the_crm_records_outcomes_and_readers_see_realised_metrics(served: World) -> None:
    body = {
        "outcomes": [
            {"prediction_id": "p1", "outcome": "Yes", "observed_at": "2026-12-05T10:00:00Z"},
            {"prediction_id": "p2", "outcome": "Yes"},
            {"prediction_id": "never-logged", "outcome": "No"},
        ]
    }
    response = served.http.post("/v1/models/churn/outcomes", json=body, headers=served.auth(FEEDBACK))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "recorded": 2,
        "duplicates": 0,
        "unknown": ["never-logged"],
        "rows_out_of_range": [],
    }
    assert _outcomes(served) == [("p1", "Yes"), ("p2", "Yes")]
    again = served.http.post("/v1/models/churn/outcomes", json=body, headers=served.auth(FEEDBACK))
    assert again.json()["duplicates"] == 2 and again.json()["recorded"] == 0

    shown = served.http.get(
        "/v1/models/churn/performance",
        params={"bucket": "day", "since": "2026-12-01T00:00:00Z"},
        headers=served.auth("triage-service"),
    )
    assert shown.status_code == 200, shown.text
    [day] = shown.json()
    assert (day["version"], day["period"], day["n"], day["accuracy"]) == (1, "2026-12-01", 2, 0.5)
    assert day["brier"] == pytest.approx((0.2**2 + 0.7**2) / 2) and day["roc_auc"] is None
    assert (day["predicted_positive_rate"], day["observed_positive_rate"]) == (0.5, 1.0)
    none_yet = served.http.get(
        "/v1/models/churn/performance", params={"version": 2}, headers=served.auth("triage-service")
    )
    assert none_yet.status_code == 200 and none_yet.json() == []


def test_more_than_the_limit_is_refused_with_413(served_sqlite: World) -> None:
    world = served_sqlite
    before = world.snapshot()
    body = {
        "outcomes": [{"prediction_id": f"p{i}", "outcome": "No"} for i in range(MAX_OUTCOMES_PER_CALL + 1)]
    }
    response = world.http.post("/v1/models/churn/outcomes", json=body, headers=world.auth(FEEDBACK))
    assert response.status_code == 413
    assert "the limit is 10,000 per call" in response.json()["error"]["message"]
    assert _outcomes(world) == [] and world.snapshot() == before


def test_an_outcome_that_is_not_a_label_is_refused_with_422(served_sqlite: World) -> None:
    world = served_sqlite
    before = world.snapshot()
    body = {
        "outcomes": [{"prediction_id": "p1", "outcome": "Yes"}, {"prediction_id": "p2", "outcome": "churned"}]
    }
    response = world.http.post("/v1/models/churn/outcomes", json=body, headers=world.auth(FEEDBACK))
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "'churned'" in message and "'No', 'Yes'" in message
    assert _outcomes(world) == [] and world.snapshot() == before
    malformed = world.http.post(
        "/v1/models/churn/outcomes",
        json={"outcomes": [{"prediction_id": "p1"}]},
        headers=world.auth(FEEDBACK),
    )
    assert malformed.status_code == 422 and "outcome" in malformed.json()["error"]["message"]
    bucket = world.http.get(
        "/v1/models/churn/performance", params={"bucket": "month"}, headers=world.auth("triage-service")
    )
    assert bucket.status_code == 422


def test_only_the_feedback_role_records_outcomes(served: World) -> None:
    before = served.snapshot()
    body = {"outcomes": [{"prediction_id": "p1", "outcome": "Yes"}]}
    for user in ("triage-service", "maya"):
        response = served.http.post("/v1/models/churn/outcomes", json=body, headers=served.auth(user))
        assert response.status_code == 403, user
        assert "outcomes.record" in response.json()["error"]["message"]
    assert served.http.post("/v1/models/churn/outcomes", json=body).status_code == 401
    assert _outcomes(served) == [] and served.snapshot() == before


def test_an_unknown_model_is_404(served_sqlite: World) -> None:
    world = served_sqlite
    body = {"outcomes": [{"prediction_id": "p1", "outcome": "Yes"}]}
    response = world.http.post("/v1/models/nosuch/outcomes", json=body, headers=world.auth(FEEDBACK))
    assert response.status_code == 404 and "known models" in response.json()["error"]["message"]
