"""The automated canary: every `interval_s`, compare candidate and stable over the window just ended (from the
gateway's request log) and move to the next step, wait, roll back, or, after the last step, promote.

Windows follow each other without gaps from the canary's start: each decided window is kept as evidence
(the analysis, its window, the share it ran at), so the decision of every step can be shown and audited. A
failing window rolls back at once; a window that cannot decide yet is kept and the next one looks again,
until the policy's `max_wait_windows` turns waiting into a failure. A window without any request is
`idle`: it neither decides nor counts towards that deadline. When every split has passed but the
production gates refuse the promotion, the refusal is kept and the gates are asked again each window,
with no further analysis: the false-alarm budget covers the planned looks only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cxops.canary.analysis import WindowStats, analyse
from cxops.canary.errors import CanaryNotFoundError
from cxops.canary.events import log_root, read_events, request_records
from cxops.canary.policy import AnalysisPolicy
from cxops.canary.service import CanaryRecord, CanaryService
from cxops.governance.errors import GateFailedError

__all__ = ["BLOCKED", "IDLE", "CanaryController", "Decision"]

IDLE = "idle"
"""The verdict kept for windows in which neither version had a request."""
BLOCKED = "promotion_blocked"
"""The verdict kept when every step passed but the production gates refused the promotion."""

RecordSource = Callable[[str, datetime], Iterable[dict[str, Any]]]
"""`records(model, since)`: the gateway's request records of a model from `since` on."""


@dataclass(frozen=True)
class Decision:
    model: str
    action: str
    """`advanced`, `waiting`, `rolled_back`, `promoted`, or `promotion_blocked` (gates not met yet)."""
    percent: float
    verdict: str
    explanation: str


class CanaryController:
    """Drives the automated canaries (`--auto`) of the metadata store; `tick()` is safe to call often."""

    def __init__(
        self,
        canaries: CanaryService,
        policy: AnalysisPolicy | None = None,
        *,
        records: RecordSource | None = None,
    ) -> None:
        self.canaries = canaries
        self.policy = policy or AnalysisPolicy()
        self._records = records or self._from_logs
        self.actor = canaries.controller()

    def _from_logs(self, model: str, since: datetime) -> list[dict[str, Any]]:
        directory: Path = log_root(self.canaries.gov.settings) / model
        return request_records(read_events(directory, since=since))

    def tick(self, model: str) -> Decision | None:
        """Decide the window that has ended, if any; None when there is nothing to decide yet."""
        record = self.canaries.active(model)
        if record is None or not record.auto or record.mode != "split":
            return None
        start = self._window_start(record)
        end = start + timedelta(seconds=record.interval_s)
        if self.canaries.gov.clock() < end:
            return None
        try:
            return self._decide(record, start, end)
        except CanaryNotFoundError:  # ended meanwhile: rolled back by the gateway or by a person
            return None

    def _decide(self, record: CanaryRecord, start: datetime, end: datetime) -> Decision:
        model = record.model
        if self._last_split_passed(record):
            # Every planned look is spent: only the gates are left (the approval, typically).
            return self._promote(record, end, "every step passed; waiting for the production gates")
        looks = self.planned_looks(record)
        raw = list(self._records(model, start))
        stable = WindowStats.from_records(raw, str(record.stable_version), start=start, end=end)
        candidate = WindowStats.from_records(raw, str(record.candidate_version), start=start, end=end)
        if stable.requests == 0 and candidate.requests == 0:
            return self._idle(record, start, end)
        analysed = [e for e in record.evidence if e.get("verdict") not in (IDLE, BLOCKED)]
        analysis = analyse(
            stable,
            candidate,
            self.policy,
            look=min(len(analysed) + 1, looks),
            looks=looks,
            waited_windows=self._waited(record),
        )
        evidence = {**analysis.to_dict(), "percent": record.percent, "window_start": start, "window_end": end}
        if analysis.verdict == "fail":
            self.canaries.rollback(
                self.actor, model, reason=f"automated analysis: {analysis.explanation}", evidence=evidence
            )
            return Decision(model, "rolled_back", record.percent, "fail", analysis.explanation)
        if analysis.verdict == "wait":
            self.canaries.record_analysis(model, evidence)
            return Decision(model, "waiting", record.percent, "wait", analysis.explanation)
        if not self._promotion_next(record):
            following = record.steps[record.step + 1]
            self.canaries.record_analysis(model, evidence, advance_to=following)
            return Decision(model, "advanced", following, "pass", analysis.explanation)
        # The last split passed. At 100 % nothing is left to compare with, so full rollout is promotion.
        record = self.canaries.record_analysis(model, evidence)
        return self._promote(record, end, analysis.explanation)

    def _promote(self, record: CanaryRecord, at: datetime, explanation: str) -> Decision:
        """Promote through the gates; when they refuse, keep the refusal as evidence (consecutive refusals
        as one) and try again a window later."""
        try:
            self.canaries.promote(
                self.actor, record.model, reason="every step of the automated canary passed"
            )
        except GateFailedError as blocked:
            last = record.evidence[-1] if record.evidence else {}
            merged = last.get("verdict") == BLOCKED
            self.canaries.record_analysis(
                record.model,
                {
                    "verdict": BLOCKED,
                    "explanation": str(blocked),
                    "percent": record.percent,
                    "window_start": last["window_start"] if merged else at,
                    "window_end": at,
                    "attempts": last.get("attempts", 1) + 1 if merged else 1,
                },
                replace_last=merged,
            )
            return Decision(record.model, "promotion_blocked", record.percent, "pass", str(blocked))
        return Decision(record.model, "promoted", 100.0, "pass", explanation)

    def planned_looks(self, record: CanaryRecord) -> int:
        """Analyses the canary can need: each split step below 100 % decides in at most
        1 + `max_wait_windows` windows (idle windows are not analysed). The false-alarm budget is split
        over these, so it holds however the canary goes."""
        splits = max(sum(1 for step in record.steps if step < 100), 1)
        return splits * (1 + self.policy.max_wait_windows)

    @staticmethod
    def _promotion_next(record: CanaryRecord) -> bool:
        return (
            record.percent >= 100
            or record.step + 1 >= len(record.steps)
            or record.steps[record.step + 1] >= 100
        )

    def _last_split_passed(self, record: CanaryRecord) -> bool:
        decided = [e for e in record.evidence if e.get("verdict") != IDLE]
        if not decided:
            return False
        last = decided[-1]
        if last.get("verdict") == BLOCKED:
            return True
        return (
            last.get("verdict") == "pass"
            and last.get("percent") == record.percent
            and self._promotion_next(record)
        )

    def _idle(self, record: CanaryRecord, start: datetime, end: datetime) -> Decision:
        """No request reached either version: nothing to judge, and no step of the deadline spent.
        Consecutive idle windows are kept as one piece of evidence."""
        last = record.evidence[-1] if record.evidence else {}
        merged = last.get("verdict") == IDLE and last.get("percent") == record.percent
        evidence = {
            "verdict": IDLE,
            "explanation": "no request reached the gateway for either version",
            "percent": record.percent,
            "window_start": last["window_start"] if merged else start,
            "window_end": end,
            "windows": last.get("windows", 1) + 1 if merged else 1,
        }
        self.canaries.record_analysis(record.model, evidence, replace_last=merged)
        return Decision(record.model, "waiting", record.percent, IDLE, evidence["explanation"])

    def tick_all(self, models: Iterable[str]) -> list[Decision]:
        return [decision for model in models if (decision := self.tick(model)) is not None]

    @staticmethod
    def _window_start(record: CanaryRecord) -> datetime:
        if not record.evidence:
            return record.started_at
        end = record.evidence[-1]["window_end"]
        return end if isinstance(end, datetime) else datetime.fromisoformat(end)

    @staticmethod
    def _waited(record: CanaryRecord) -> int:
        waited = 0
        for evidence in reversed(record.evidence):
            if evidence.get("verdict") in (IDLE, BLOCKED):
                continue  # no evidence either way
            if evidence.get("verdict") != "wait" or evidence.get("percent") != record.percent:
                break
            waited += 1
        return waited
