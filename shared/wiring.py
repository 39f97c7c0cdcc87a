"""Whether a layer is completely wired: everything docs/adding-a-layer.md asks of a new layer.

A layer that is only half wired fails late and obscurely (a StackReference to an undeclared
output, a Pulumi.yaml without ``protect`` so one layer silently runs unprotected, a program run
with the wrong virtualenv). :func:`problems` names each gap and the fix; ``tests/test_foundation.py``
runs it for every layer of the manifest, so a layer added on the old conventions fails one test
that says what to add.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import contracts, manifest
from .settings import ENVIRONMENT_KEYS
from .stack_config import yaml_problem

VIRTUALENV = "../../.venv"


def problems(layer: manifest.Layer, *, layers: tuple[manifest.Layer, ...] | None = None) -> list[str]:
    """Every way ``layer`` is not wired, one sentence each (empty when it is complete)."""
    known = {lyr.name for lyr in (manifest.LAYERS if layers is None else layers)}
    found: list[str] = []
    unknown = [name for name in layer.reads if name not in known]
    if unknown:
        found.append(f"reads unknown layer(s) {', '.join(unknown)}: every name in reads must be a layer of shared/manifest.py")
    if layer.name not in contracts.CONTRACTS:
        found.append(
            f"has no output contract: add CONTRACTS[{layer.name!r}] (output name -> description) to shared/contracts.py "
            "and export through contracts.export"
        )
    try:
        layer.settings_class()
    except LookupError as exc:
        found.append(str(exc).removeprefix(f"layer {layer.name}").lstrip(": "))
    if not (layer.directory / "__main__.py").exists():
        found.append(f"has no program: {_rel(layer.directory / '__main__.py')} is missing")
    found.extend(_project_problems(layer))
    return found


def _project_problems(layer: manifest.Layer) -> list[str]:
    path = layer.directory / "Pulumi.yaml"
    if not path.exists():
        return [f"has no {_rel(path)}"]
    try:
        project = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        return [yaml_problem(path, exc)]
    if not isinstance(project, dict):
        return [f"{_rel(path)} is not a YAML mapping"]
    found: list[str] = []
    if project.get("name") != layer.project:
        found.append(f"{_rel(path)} has name: {project.get('name')!r}; it must be {layer.project!r}")
    runtime: Any = project.get("runtime")
    options = runtime.get("options") if isinstance(runtime, dict) else None
    virtualenv = options.get("virtualenv") if isinstance(options, dict) else None
    if not isinstance(runtime, dict) or runtime.get("name") != "python" or virtualenv != VIRTUALENV:
        found.append(
            f"{_rel(path)} must run on the repository's virtualenv: runtime: {{name: python, options: "
            f"{{toolchain: pip, virtualenv: {VIRTUALENV}}}}} (found virtualenv {virtualenv!r})"
        )
    config = project.get("config") or {}
    if not isinstance(config, dict):
        return [*found, f"{_rel(path)} has a config: block that is not a mapping"]
    for key, (default, _) in ENVIRONMENT_KEYS.items():
        spec = config.get(key)
        if not isinstance(spec, dict) or not spec.get("description"):
            found.append(
                f"{_rel(path)} does not document the environment-wide key {key!r}: copy the environment-wide block "
                "of stacks/network/Pulumi.yaml into its config: block"
            )
        elif spec.get("default") != ("" if default is None else default):
            found.append(
                f"{_rel(path)} documents {key!r} with default {spec.get('default')!r}; "
                f"shared/settings.py ENVIRONMENT_KEYS says {'' if default is None else default!r}"
            )
    return found


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(manifest.REPO_ROOT))
    except ValueError:
        return str(path)
