"""Where a canary's traffic is moved once its record changes (`Settings.canary_backend`).

The canary records are the source of truth. The local gateway reads them, so the local backend has
nothing to do. The Kubernetes backend patches the model's KServe InferenceService inside the transaction
that changes the record: when the API server refuses the patch, the record is left as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from cxops.canary.errors import CanaryError, CanaryInvalidError, CanaryModeError
from cxops.config import Settings

if TYPE_CHECKING:
    from cxops.canary.kubernetes import KServeCanaryBackend
    from cxops.canary.service import CanaryRecord
    from cxops.registry import ModelVersionRecord

__all__ = ["GatewayTraffic", "KServeTraffic", "TrafficBackend", "traffic_backend"]


class TrafficBackend(Protocol):
    """Applies a canary record's change to the serving platform; raises to refuse it."""

    def started(self, record: CanaryRecord, candidate: ModelVersionRecord) -> None: ...

    def moved(self, record: CanaryRecord) -> None: ...

    def promoted(self, record: CanaryRecord) -> None: ...

    def rolled_back(self, record: CanaryRecord) -> None: ...

    def pinned(self, model: str, version: ModelVersionRecord) -> None:
        """`version` takes all of the model's traffic (a rollback to an earlier production version)."""
        ...

    def observed(self, model: str) -> str | None:
        """How the serving platform splits the model's traffic now, in a line (None: as the records say)."""
        ...


class GatewayTraffic:
    """The local backend: `cxops canary gateway` reads the records itself (within its refresh time)."""

    def started(self, record: CanaryRecord, candidate: ModelVersionRecord) -> None:
        return None

    def moved(self, record: CanaryRecord) -> None:
        return None

    def promoted(self, record: CanaryRecord) -> None:
        return None

    def rolled_back(self, record: CanaryRecord) -> None:
        return None

    def pinned(self, model: str, version: ModelVersionRecord) -> None:
        return None

    def observed(self, model: str) -> str | None:
        return None


class KServeTraffic:
    """Each model is the InferenceService of its name; a version runs the predictor image built from its
    bento, `<image_registry>/<bento name>:<bento version>`."""

    def __init__(self, settings: Settings, backend: KServeCanaryBackend | None = None) -> None:
        self.registry = settings.image_registry.rstrip("/")
        self.namespace = settings.kserve_namespace
        self._backend = backend

    @property
    def backend(self) -> KServeCanaryBackend:
        # Made on first use: reading canary records needs no cluster.
        if self._backend is None:
            from cxops.canary.kubernetes import KServeCanaryBackend

            self._backend = KServeCanaryBackend(self.namespace)
        return self._backend

    def image(self, version: ModelVersionRecord) -> str:
        if not version.bento_tag:
            raise CanaryInvalidError(
                f"{version.ref} has no bento, so no predictor image; the training pipeline's package step "
                "builds it: run the pipeline again, then push the image"
            )
        name, _, tag = version.bento_tag.partition(":")
        return f"{self.registry}/{name}:{tag or 'latest'}"

    def started(self, record: CanaryRecord, candidate: ModelVersionRecord) -> None:
        if record.mode == "shadow":
            raise CanaryModeError(
                "KServe cannot mirror requests to a candidate; run shadow canaries on the local gateway "
                "(CXOPS_CANARY_BACKEND=local) or start a split canary with a small first step"
            )
        self.backend.start(record.model, self.image(candidate), _whole(record.percent))

    def moved(self, record: CanaryRecord) -> None:
        self.backend.set_percent(record.model, _whole(record.percent))

    def promoted(self, record: CanaryRecord) -> None:
        self.backend.promote(record.model)

    def rolled_back(self, record: CanaryRecord) -> None:
        if record.mode == "split":
            self.backend.rollback(record.model)

    def pinned(self, model: str, version: ModelVersionRecord) -> None:
        self.backend.pin(model, self.image(version))

    def observed(self, model: str) -> str | None:
        try:
            status = self.backend.status(model)
        except CanaryError as error:  # status is for reading: say why it cannot be read
            return f"KServe: {error.message}"
        split = ", ".join(
            f"{t.percent}% → {t.revision}{' (candidate)' if t.latest and len(status.traffic) > 1 else ''}"
            for t in status.traffic
        )
        state = ("ready" if status.ready else "not ready") + ("" if status.settled else ", not settled yet")
        return f"KServe ({status.mode}): {split or 'no traffic reported'}; {state}"


def _whole(percent: float) -> int:
    if percent != int(percent):
        raise CanaryInvalidError(
            f"KServe splits traffic in whole percentages; {percent:g} is not one (use e.g. {round(percent)})"
        )
    return int(percent)


def traffic_backend(settings: Settings) -> TrafficBackend:
    return KServeTraffic(settings) if settings.canary_backend == "kubernetes" else GatewayTraffic()
