"""The canary part of `make demo`: churn is retrained on a fresh snapshot of subscribers, the new version
goes to staging and is approved, and an SRE releases it with an automated canary through the local
gateway under a steady load: the analysis compares it with production window by window, raises its share
25 % → 50 %, and promotes it when every window has passed (or rolls it back, with the evidence)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pandas as pd

from cxops.cli._output import console
from cxops.config import Settings

__all__ = ["release_with_canary"]

SRE = "sam"
"""An SRE in policies/roles.yaml (deployments.manage)."""
STEPS = (25.0, 50.0, 100.0)
INTERVAL_S = 20
RATE = 20.0
"""Requests per second the demo's clients send through the gateway: what one churn server answers on a
two-core machine with room to spare (about 35 ms of work per request)."""
_ENDED = ("promoted", "rolled_back", "promotion_blocked")


def release_with_canary(settings: Settings, model: str, version: int, raw_offers: pd.DataFrame) -> None:
    """Stage and approve `model:version`, then run its automated canary against production."""
    from cxops.canary.consent import ProfilingOptOut
    from cxops.canary.controller import CanaryController
    from cxops.canary.gateway import create_gateway
    from cxops.canary.load import LoadRun, warm_up
    from cxops.canary.local import bento_launcher, local_routes
    from cxops.canary.policy import load_analysis_policy
    from cxops.canary.service import CanaryService
    from cxops.cli.canary import show_report
    from cxops.demo_governance import ENGINEER, OFFICER
    from cxops.features.client import FeatureStoreClient
    from cxops.governance.service import Governance
    from cxops.serving.thread_server import ThreadServer

    objection = raw_offers["profiling_opt_out"]
    eligible = raw_offers.loc[objection == "No", "customerID"].drop_duplicates().tolist()
    objecting = raw_offers.loc[objection == "Yes", "customerID"].drop_duplicates().head(50).tolist()
    # The demo's windows are short, so each check decides on fewer requests than in production.
    policy = load_analysis_policy(settings.root / "policies" / "canary.yaml").model_copy(
        update={"min_requests": 60}
    )

    with Governance.from_settings(settings) as gov:
        canaries = CanaryService(gov)
        ref = f"{model}:{version}"
        staged = gov.promote(
            gov.actor(ENGINEER), model, version, "staging", reason="retrained on this month's subscribers"
        )
        passed = sum(g["passed"] for g in staged.gates)
        console.print(f"  {ENGINEER}: {ref} → staging ({passed}/{len(staged.gates)} gate checks passed)")
        gov.approve(gov.actor(OFFICER), model, version, "production", comment="canary release approved")
        console.print(f"  {OFFICER} approved {ref} for production; the canary decides whether it gets there")

        opt_out = ProfilingOptOut(FeatureStoreClient(settings))
        with contextlib.ExitStack() as stack:
            launch = bento_launcher(canaries, settings, announce=_say)
            routes = stack.enter_context(local_routes(canaries, [model], launch))
            app = create_gateway(routes, settings, opt_out=opt_out)
            for serving in {gov.production_version(model).version, version}:  # warm before traffic
                warm_up(routes.servers.wait(model, serving), model, eligible)
            gateway = stack.enter_context(ThreadServer(app))
            console.print(f"  gateway at {gateway.url} in front of both versions")
            load = LoadRun(gateway.url, model, eligible + objecting, rate=RATE, duration_s=600).start()
            record = canaries.start(
                gov.actor(SRE), model, version, steps=STEPS, interval_s=INTERVAL_S, auto=True
            )
            console.print(
                f"  {SRE} (sre): cxops canary start {model} --version {version} --steps "
                f"{','.join(f'{s:g}' for s in STEPS)} --interval {INTERVAL_S}s --auto "
                f"({RATE:g} requests/s through the gateway)"
            )
            controller = CanaryController(canaries, policy)
            deadline = time.monotonic() + INTERVAL_S * (len(STEPS) + policy.max_wait_windows + 2)
            decision = None
            while time.monotonic() < deadline:
                time.sleep(1.0)
                app.state.gateway.flush()
                decision = controller.tick(model)
                if decision is not None:
                    console.print(
                        f"  analysis: {decision.action}, candidate at {decision.percent:g}% "
                        f"({decision.explanation})"
                    )
                    if decision.action in _ENDED:
                        break
            sent = load.stop()
            if decision is None or decision.action not in _ENDED:
                console.print("  [yellow]the canary had not ended when the demo's time was up[/]")
        _summarise(sent, objecting, record.candidate_version)
        [*_, final] = canaries.history(gov.actor(SRE), model)
        show_report(final, settings.subdir("reports") / f"{final.deployment_id}.png")


def _say(line: str) -> None:
    console.print(f"  {line}")


def _summarise(sent: list[Any], objecting: list[str], candidate: int) -> None:
    failed = sum(s.failed for s in sent)
    by_version = pd.Series([s.version for s in sent]).value_counts().to_dict()
    latencies = pd.Series([s.latency_ms for s in sent])
    objected = [s for s in sent if s.customer in set(objecting)]
    console.print(
        f"  {len(sent)} requests, {failed} failed; answered by version {by_version}; "
        f"p50 {latencies.median():.0f} ms, p95 {latencies.quantile(0.95):.0f} ms"
    )
    console.print(
        f"  customers who objected to profiling: {len(objected)} requests, "
        f"{sum(s.version == str(candidate) for s in objected)} answered by the candidate"
    )
