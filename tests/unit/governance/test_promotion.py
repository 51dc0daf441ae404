"""Stage promotion: gates, approvals with separation of duties, overrides, roles, history and audit, and one
production version per model under concurrent promotions, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cxops.governance.errors import GateFailedError, GovernanceInputError, PermissionDeniedError
from cxops.governance.service import Governance
from cxops.registry import ModelVersionRecord, Stage
from cxops.registry._errors import RegistryConflictError
from cxops.registry._schema import RetrainingFlag

MakeVersion = Callable[..., ModelVersionRecord]


def _stage(gov: Governance, version: int) -> Stage:
    return gov.registry.get_version("churn", version).stage


def _to_production(gov: Governance, version: int) -> None:
    maya, dana = gov.actor("maya"), gov.actor("dana")
    gov.promote(maya, "churn", version, "staging", reason="passes offline evaluation")
    gov.approve(dana, "churn", version, "production", comment="bias and DPIA reviewed")
    gov.promote(maya, "churn", version, "production", reason="release")


def test_promotion_to_staging_records_the_gates(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version()
    transition = gov.promote(gov.actor("maya"), "churn", version.version, "staging", reason="good offline")
    assert (transition.from_stage, transition.to_stage, transition.actor, transition.role) == (
        "candidate",
        "staging",
        "maya",
        "ml-engineer",
    )
    assert {g["gate"] for g in transition.gates} == {
        "ownership",
        "data_validation",
        "metrics",
        "metric_regression",
        "bias",
        "dpia",
    }
    assert all(g["passed"] for g in transition.gates)
    assert _stage(gov, version.version) is Stage.STAGING
    [event] = gov.registry.audit_events(action="stage.")
    assert (event.action, event.payload["to"], event.reason) == ("stage.changed", "staging", "good offline")
    assert gov.history(gov.actor("dana"), "churn") == [transition]


def test_production_needs_an_approval(gov: Governance, make_version: MakeVersion) -> None:
    maya = gov.actor("maya")
    version = make_version().version
    gov.promote(maya, "churn", version, "staging", reason="ok")
    with pytest.raises(GateFailedError, match="approval") as refused:
        gov.promote(maya, "churn", version, "production", reason="release")
    assert refused.value.status_code == 409
    [approval] = [g for g in refused.value.gates if g["gate"] == "approval"]
    assert not approval["passed"] and "cxops models approve churn" in approval["fix"]
    assert _stage(gov, version) is Stage.STAGING
    assert gov.registry.audit_events(limit=1)[0].action == "stage.blocked"

    gov.approve(gov.actor("dana"), "churn", version, "production", comment="reviewed")
    transition = gov.promote(maya, "churn", version, "production", reason="release")
    assert [a["approver"] for a in transition.approvals] == ["dana"]
    assert _stage(gov, version) is Stage.PRODUCTION
    # The approval is used up: it does not carry over to a later promotion.
    assert gov.approvals(maya, "churn", version)[0].used_by == transition.id


def test_authors_cannot_approve_their_own_version(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version(author="dana").version
    gov.promote(gov.actor("maya"), "churn", version, "staging", reason="ok")
    with pytest.raises(PermissionDeniedError, match="separation of duties"):
        gov.approve(gov.actor("dana"), "churn", version, "production")
    assert gov.approvals(gov.actor("maya"), "churn", version) == []


def test_approvals_need_the_approving_role(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version().version
    gov.promote(gov.actor("maya"), "churn", version, "staging", reason="ok")
    for user in ("maya", "sam", "triage-service"):
        with pytest.raises(PermissionDeniedError, match="models.approve"):
            gov.approve(gov.actor(user), "churn", version, "production")


def test_expired_approvals_do_not_count(gov: Governance, make_version: MakeVersion) -> None:
    maya = gov.actor("maya")
    version = make_version().version
    gov.promote(maya, "churn", version, "staging", reason="ok")
    gov.approve(gov.actor("dana"), "churn", version, "production")
    approved_at = gov.clock()
    gov.clock = lambda: approved_at + timedelta(hours=gov.policy.approval.ttl_hours, minutes=1)
    with pytest.raises(GateFailedError, match="approval"):
        gov.promote(maya, "churn", version, "production", reason="release")


def test_a_new_production_version_archives_the_old_one(gov: Governance, make_version: MakeVersion) -> None:
    first, second = make_version().version, make_version().version
    _to_production(gov, first)
    _to_production(gov, second)
    assert (_stage(gov, first), _stage(gov, second)) == (Stage.ARCHIVED, Stage.PRODUCTION)
    history = gov.history(gov.actor("sam"), "churn")
    replaced = [t for t in history if t.version == first and t.to_stage == "archived"]
    assert len(replaced) == 1 and f"churn:{second}" in replaced[0].reason
    assert gov.registry.verify_audit().ok


def test_failing_gates_block_and_name_the_fix(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version(
        metrics={"roc_auc": 0.70, "pr_auc": 0.65, "recall": 0.7, "f1": 0.6}, validated=False
    )
    with pytest.raises(GateFailedError) as refused:
        gov.promote(gov.actor("maya"), "churn", version.version, "staging", reason="try")
    failed = {(g["gate"], g["check"]) for g in refused.value.gates if not g["passed"]}
    assert failed == {("metrics", "roc_auc"), ("data_validation", "training data")}
    assert "roc_auc" in str(refused.value) and "expectation suite" in str(refused.value)
    assert _stage(gov, version.version) is Stage.CANDIDATE


def test_an_admin_override_is_loudly_recorded(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version(validated=False).version
    with pytest.raises(PermissionDeniedError, match="models.override"):
        gov.promote(gov.actor("maya"), "churn", version, "staging", reason="urgent", override=True)
    transition = gov.promote(
        gov.actor("root-admin"), "churn", version, "staging", reason="incident 42: hotfix", override=True
    )
    assert transition.override and transition.role == "admin"
    event = gov.registry.audit_events(limit=1)[0]
    assert event.action == "stage.overridden" and event.reason == "incident 42: hotfix"
    assert [g["gate"] for g in event.payload["gates_failed"]] == ["data_validation"]


def test_refused_actions_change_nothing(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version().version
    before = gov.registry.audit_events(limit=1000)
    with pytest.raises(PermissionDeniedError, match="triage-service"):
        gov.promote(gov.actor("triage-service"), "churn", version, "staging", reason="x")
    with pytest.raises(PermissionDeniedError, match=r"user 'mallory' \(app-team\)"):
        gov.promote(gov.actor("mallory"), "churn", version, "staging", reason="x")
    with pytest.raises(GovernanceInputError, match="cannot move to production"):
        gov.promote(gov.actor("maya"), "churn", version, "production", reason="skip staging")
    with pytest.raises(GovernanceInputError, match="needs a reason"):
        gov.promote(gov.actor("maya"), "churn", version, "staging", reason=" ")
    with pytest.raises(GovernanceInputError, match="unknown stage 'live'"):
        gov.promote(gov.actor("maya"), "churn", version, "live", reason="x")
    assert gov.registry.audit_events(limit=1000) == before
    assert _stage(gov, version) is Stage.CANDIDATE


def test_demotions_take_no_gates(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version(validated=False).version
    transition = gov.promote(gov.actor("sam"), "churn", version, "archived", reason="superseded")
    assert transition.gates == [] and _stage(gov, version) is Stage.ARCHIVED


def test_concurrent_promotions_leave_one_production_version(
    gov: Governance, make_version: MakeVersion
) -> None:
    maya, dana = gov.actor("maya"), gov.actor("dana")
    versions = [make_version().version for _ in range(3)]
    for version in versions:
        gov.promote(maya, "churn", version, "staging", reason="ok")
        gov.approve(dana, "churn", version, "production")
    barrier = threading.Barrier(len(versions))
    outcomes: dict[int, str] = {}

    def promote(version: int) -> None:
        barrier.wait()
        try:
            gov.promote(maya, "churn", version, "production", reason="race")
            outcomes[version] = "promoted"
        except RegistryConflictError:
            outcomes[version] = "conflict"

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stages = [_stage(gov, v) for v in versions]
    assert stages.count(Stage.PRODUCTION) == 1
    assert "promoted" in outcomes.values() and len(outcomes) == len(versions)
    # Whoever lost saw a conflict, or promoted after the winner and archived it: never two at once.
    assert gov.production_version("churn").version == versions[stages.index(Stage.PRODUCTION)]
    assert gov.registry.verify_audit().ok


def test_archiving_a_version_settles_its_retraining_flags(gov: Governance, make_version: MakeVersion) -> None:
    version = make_version().version
    other = make_version().version

    def flag(session: Session) -> None:
        for number in (version, other):
            session.add(
                RetrainingFlag(
                    model="churn",
                    version=number,
                    reason="subject erased",
                    due_by=gov.clock() + timedelta(days=30),
                )
            )

    gov.registry.write(flag, "flagging")
    gov.promote(gov.actor("sam"), "churn", version, "archived", reason="retired after an erasure")
    with gov.registry.reading() as session:
        open_flags = {f.version: f.resolved_at for f in session.scalars(sa.select(RetrainingFlag))}
    assert open_flags[version] is not None and open_flags[other] is None
    assert gov.registry.audit_events(limit=1)[0].payload["resolved_retraining_flags"] == [1]
