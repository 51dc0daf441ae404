"""The governance part of `make demo`: an ML engineer promotes the churn model to staging (gates shown),
is refused production for want of an approval, a compliance officer approves, the promotion goes through,
and the compliance report is written for the auditor."""

from __future__ import annotations

from pathlib import Path

from cxops.cli._governance import print_gates
from cxops.cli._output import console
from cxops.config import Settings
from cxops.governance.errors import GateFailedError
from cxops.governance.report import write_compliance_report
from cxops.governance.service import Governance

__all__ = ["ENGINEER", "OFFICER", "promote_with_approval"]

ENGINEER = "maya"
"""An ML engineer in policies/roles.yaml."""
OFFICER = "dana"
"""A compliance officer in policies/roles.yaml: approves, and is not the author of the version."""


def promote_with_approval(settings: Settings, model: str, version: int) -> Path:
    """Walk `model:version` from candidate to production; returns the compliance report's path."""
    with Governance.from_settings(settings) as gov:
        engineer, officer = gov.actor(ENGINEER), gov.actor(OFFICER)
        ref = f"{model}:{version}"
        console.print(f"  {ENGINEER} (ml-engineer): cxops models promote {model} {version} --to staging")
        staged = gov.promote(
            engineer, model, version, "staging", reason="passes offline evaluation in the demo"
        )
        print_gates(staged.gates, f"{ref} candidate → staging: gates")

        console.print(f"  {ENGINEER}: cxops models promote {model} {version} --to production")
        try:
            gov.promote(engineer, model, version, "production", reason="release after the demo")
            console.print("  [red]unexpected: production was reached without an approval[/]")
        except GateFailedError as refused:
            failed = [g for g in refused.gates if not g["passed"]]
            print_gates(failed, f"{ref} staging → production: [bold red]refused[/] (failing gates only)")

        console.print(f"  {OFFICER} (compliance): cxops models approve {model} {version} --to production")
        approval = gov.approve(officer, model, version, "production", comment="bias report and DPIA reviewed")
        console.print(
            f"  approval #{approval.id} by {approval.approver}, "
            f"valid until {approval.expires_at:%Y-%m-%d %H:%M}"
        )

        released = gov.promote(engineer, model, version, "production", reason="approved release")
        console.print(
            f"  [green]{ref}[/] {released.from_stage} → [bold]{released.to_stage}[/] "
            f"({sum(g['passed'] for g in released.gates)}/{len(released.gates)} gate checks passed, "
            f"approved by {', '.join(a['approver'] for a in released.approvals)})"
        )
        verification = gov.verify_audit(officer)
        console.print(
            f"  audit log: {verification.events} events, chain "
            f"{'[green]intact[/]' if verification.ok else '[red]BROKEN[/]'} (head {verification.head[:12]}…)"
        )
        return write_compliance_report(gov, officer, model, version, settings.subdir("reports"))
