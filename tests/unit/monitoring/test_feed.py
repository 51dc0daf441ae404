"""The feed of the drift monitor: request events from the gateway's log (written as the gateway writes it),
complete lines only, offsets committed once delivered, a rewritten file read again, bounded reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxops.canary.events import EVENT_REQUEST, EVENT_RESPONSE, EventLog, inference_event
from cxops.monitoring.feed import LogFeed

DAY = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _events(model: str, first: int, count: int, *, at: datetime = DAY, responses: bool = True) -> list[dict]:
    """Request (and response) events of `count` calls, ids `<model>-<n>`."""
    out = []
    for n in range(first, first + count):
        moment = at + timedelta(seconds=n)
        common = {"request_id": f"{model}-{n}", "source": "gateway", "model": model, "version": "1"}
        out.append(
            inference_event(
                EVENT_REQUEST, **common, endpoint="default", data={"instances": [{"tenure": n}]}, time=moment
            )
        )
        if responses:
            out.append(
                inference_event(
                    EVENT_RESPONSE,
                    **common,
                    endpoint="default",
                    data={"predictions": [0.2]},
                    status=200,
                    time=moment,
                )
            )
    return out


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "logs")


def _feed(log: EventLog, **kwargs: int) -> LogFeed:
    return LogFeed(log.root, log.root.parent / "state" / "feed-offsets.json", **kwargs)


def _ids(events: list[dict]) -> list[str]:
    return [e["id"] for e in events]


def test_only_request_events_of_the_models_asked_are_read(log: EventLog) -> None:
    log.append(_events("churn", 0, 3) + _events("intent", 0, 2))
    feed = _feed(log)
    events = feed.read(["churn"])
    assert _ids(events) == ["churn-0", "churn-1", "churn-2"]
    assert {e["type"] for e in events} == {EVENT_REQUEST}
    assert (
        events[0]["data"] == {"instances": [{"tenure": 0}]} and events[0]["inferenceservicename"] == "churn"
    )
    assert _ids(feed.read(["churn", "intent"])) == ["churn-0", "churn-1", "churn-2", "intent-0", "intent-1"]
    assert feed.read(["sentiment"]) == []  # no folder yet


def test_committed_offsets_are_not_sent_again_by_a_new_feed(log: EventLog) -> None:
    log.append(_events("churn", 0, 3))
    feed = _feed(log)
    assert len(feed.read(["churn"])) == 3
    # Not committed (the monitor did not accept the batch): a restart sends the events again.
    assert _ids(_feed(log).read(["churn"])) == ["churn-0", "churn-1", "churn-2"]
    feed.commit()
    state = json.loads((log.root.parent / "state" / "feed-offsets.json").read_text())
    assert state == {"churn/2026-12-07.jsonl": log.path("churn", "2026-12-07").stat().st_size}
    assert feed.read(["churn"]) == []
    restarted = _feed(log)
    assert restarted.read(["churn"]) == []
    log.append(_events("churn", 3, 2))
    assert _ids(restarted.read(["churn"])) == ["churn-3", "churn-4"]


def test_a_line_still_being_written_is_left_for_the_next_read(log: EventLog) -> None:
    log.append(_events("churn", 0, 2, responses=False))
    path = log.path("churn", "2026-12-07")
    line = json.dumps(_events("churn", 2, 1, responses=False)[0], separators=(",", ":")) + "\n"
    with path.open("a") as handle:
        handle.write(line[:40])
    feed = _feed(log)
    assert _ids(feed.read(["churn"])) == ["churn-0", "churn-1"]
    feed.commit()
    assert feed.read(["churn"]) == []
    with path.open("a") as handle:
        handle.write(line[40:])
    assert _ids(feed.read(["churn"])) == ["churn-2"]


def test_a_complete_line_that_is_not_json_is_skipped(log: EventLog) -> None:
    log.append(_events("churn", 0, 1, responses=False))
    path = log.path("churn", "2026-12-07")
    with path.open("a") as handle:
        handle.write('{"cut short by a crash\n\n')
    log.append(_events("churn", 1, 1, responses=False))
    feed = _feed(log)
    assert _ids(feed.read(["churn"])) == ["churn-0", "churn-1"]
    feed.commit()
    assert feed.read(["churn"]) == []


def test_a_rewritten_shorter_file_is_read_from_the_start(log: EventLog) -> None:
    log.append(_events("churn", 0, 4))
    feed = _feed(log)
    feed.read(["churn"])
    feed.commit()
    # An erasure rewrites the day's file without one customer's events.
    path = log.path("churn", "2026-12-07")
    kept = [line for line in path.read_text().splitlines() if '"id":"churn-1"' not in line]
    path.write_text("\n".join(kept) + "\n")
    assert _ids(feed.read(["churn"])) == ["churn-0", "churn-2", "churn-3"]


def test_max_events_splits_reads_across_lines_and_files(log: EventLog) -> None:
    log.append(_events("churn", 0, 3) + _events("churn", 0, 2, at=DAY + timedelta(days=1)))
    feed = _feed(log, max_events=2)
    batches = []
    while events := feed.read(["churn"]):
        batches.append(_ids(events))
        feed.commit()
    assert batches == [["churn-0", "churn-1"], ["churn-2", "churn-0"], ["churn-1"]]
    assert _feed(log).read(["churn"]) == []  # every batch was committed
