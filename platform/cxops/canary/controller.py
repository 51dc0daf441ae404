"""The automated canary: every `interval_s`, compare candidate and stable over the window just ended (from the
gateway's request log) and move to the next step, wait, roll back, or, after the last step, promote.

Windows follow each other without gaps from the canary's start: each decided window is kept as evidence
(the analysis, its window, the share it ran at), so the decision of every step can be shown and audited. A
failing window rolls back at once; a window that cannot decide yet is kept and the next one looks again,
until the policy's `max_wait_windows` turns waiting into a failure. A window without any request is
`idle`: it neither decides nor counts towards that deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cxops.canary.analysis import WindowStats, analyse
from cxops.canary.events import log_root, read_events, request_records
from cxops.canary.local import CONTROLLER
from cxops.canary.policy import AnalysisPolicy
from cxops.canary.service import CanaryRecord, CanaryService
from cxops.governance.errors import GateFailedError
from cxops.governance.identity import Actor

__all__ = ["IDLE", "CanaryController", "Decision"]

IDLE = "idle"
"""The verdict kept for windows in which neither version had a request."""

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
        gov = canaries.gov
        self.actor = Actor(CONTROLLER, tuple(gov.roles.roles_of(CONTROLLER)))

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
        looks = len(record.steps) + self.policy.max_wait_windows
        raw = list(self._records(model, start))
        stable = WindowStats.from_records(raw, str(record.stable_version), start=start, end=end)
        candidate = WindowStats.from_records(raw, str(record.candidate_version), start=start, end=end)
        if stable.requests == 0 and candidate.requests == 0:
            return self._idle(record, start, end)
        analysed = [e for e in record.evidence if e.get("verdict") != IDLE]
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
        following = record.steps[min(record.step + 1, len(record.steps) - 1)]
        if following < 100 and record.percent < 100:
            self.canaries.record_analysis(model, evidence, advance_to=following)
            return Decision(model, "advanced", following, "pass", analysis.explanation)
        # The last split passed. At 100 % nothing is left to compare with, so full rollout is promotion.
        self.canaries.record_analysis(model, evidence)
        try:
            self.canaries.promote(self.actor, model, reason="every step of the automated canary passed")
        except GateFailedError as blocked:
            return Decision(model, "promotion_blocked", record.percent, "pass", str(blocked))
        return Decision(model, "promoted", 100.0, "pass", analysis.explanation)

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
            if evidence.get("verdict") == IDLE:
                continue  # an idle window is no evidence either way
            if evidence.get("verdict") != "wait" or evidence.get("percent") != record.percent:
                break
            waited += 1
        return waited
