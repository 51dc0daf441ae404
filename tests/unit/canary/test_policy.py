"""The canary policy file: the repository's validates, and a mistake in one is named, not ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxops.canary.errors import CanaryInvalidError
from cxops.canary.policy import AnalysisPolicy, load_analysis_policy
from cxops.config import project_root


def test_the_repository_policy_is_valid() -> None:
    policy = load_analysis_policy(project_root() / "policies" / "canary.yaml")
    assert isinstance(policy, AnalysisPolicy) and policy.false_alarm_rate == 0.01


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("analysis: {min_requets: 50}", "analysis.min_requets: Extra inputs are not permitted"),
        ("analysis: {min_requests: 5}", "analysis.min_requests"),
        ("analysis: [", "not valid YAML"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(text)
    with pytest.raises(CanaryInvalidError, match=problem):
        load_analysis_policy(path)


def test_a_missing_file_says_where_it_belongs(tmp_path: Path) -> None:
    with pytest.raises(CanaryInvalidError, match="restore policies/canary.yaml"):
        load_analysis_policy(tmp_path / "nothing.yaml")
