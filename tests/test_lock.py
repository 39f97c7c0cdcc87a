"""requirements.lock covers every third-party import: bootstrap's `uv pip sync` removes anything the
lock does not list, so an import of a package that is only installed by chance (a leftover of an
older pip-based virtualenv, a transitive dependency of a tool) fails on a fresh machine only."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from conftest import ROOT

SOURCES = ("shared", "stacks", "tests", "policy", "scripts")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> set[str]:
    names = set()
    for lock in (ROOT / "requirements.lock", ROOT / "scripts" / "uv.lock.txt"):
        names |= {_normalise(m[1]) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock.read_text(), re.MULTILINE)}
    return names


def _python_files() -> list[Path]:
    files = [ROOT / "tasks.py"]
    for top in SOURCES:
        files += [p for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts]
    return files


def _local_names(files: list[Path]) -> set[str]:
    """Modules the repository provides itself: every file's stem and every package directory."""
    names = {"shared", "tasks"}
    for path in files:
        names.add(path.stem)
        names |= set(path.relative_to(ROOT).parts[:-1])
    return names


def _imports(files: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.setdefault(alias.name.split(".")[0], path)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.setdefault(node.module.split(".")[0], path)
    return found


def test_every_third_party_import_is_installed_from_the_lock():
    files = _python_files()
    third_party = {
        module: path
        for module, path in _imports(files).items()
        if module not in sys.stdlib_module_names and module not in _local_names(files)
    }
    # The repository does import third-party packages (the check is not vacuous).
    assert {"pulumi", "pulumi_aws", "yaml", "boto3", "moto", "pytest"} <= set(third_party)
    providers = importlib.metadata.packages_distributions()
    locked = _locked()
    missing = []
    for module, path in sorted(third_party.items()):
        dists = {_normalise(d) for d in providers.get(module, [])}
        if not dists & locked:
            missing.append(f"{module} (imported by {path.relative_to(ROOT)}; installed from: {sorted(dists) or 'nothing'})")
    assert not missing, "not in requirements.lock (add the package to pyproject.toml and run `invoke lock`): " + "; ".join(
        missing
    )
