"""Documentation generated from its sources, so it cannot drift from the code.

The layers table and each layer's outputs (README.md) come from ``shared/manifest.py`` and
``shared/contracts.py``; the configuration tables (docs/configuration.md) from each layer's
``Pulumi.yaml`` ``config:`` block. They are written between marker comments::

    <!-- generated: outputs (invoke docs; edit shared/contracts.py, not this block) -->
    ...
    <!-- end generated: outputs -->

``invoke docs`` rewrites every block; ``tests/test_docs.py`` fails when a committed file differs
from what the task would write. Every layer of the manifest is included, so a new layer appears
as soon as it is wired.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import contracts, manifest
from .errors import PlatformError
from .settings import ENVIRONMENT_KEYS
from .stack_config import project_config_schema

# The files holding generated blocks, relative to the repository root.
FILES = ("README.md", "docs/configuration.md")

_BEGIN = re.compile(r"<!-- generated: (?P<name>[\w-]+) \([^)]*\) -->\n")
_SOURCES = {
    "layers": "edit shared/manifest.py, not this block",
    "outputs": "edit shared/contracts.py, not this block",
    "environment-config": "edit the layers' Pulumi.yaml, not this block",
    "layer-config": "edit the layers' Pulumi.yaml, not this block",
}


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _default(spec: dict[str, Any]) -> str:
    value = spec.get("default")
    if value is None or value == "":
        return '`""`'
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, (list, dict)):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _layers(layers: tuple[manifest.Layer, ...]) -> str:
    rows = ["| layer | project | owns | reads |", "| --- | --- | --- | --- |"]
    for layer in layers:
        reads = ", ".join(layer.reads) or "-"
        rows.append(f"| {layer.name} | `{layer.project}` | {_cell(layer.owns)} | {reads} |")
    return "\n".join(rows)


def _outputs(layers: tuple[manifest.Layer, ...]) -> str:
    parts: list[str] = []
    for layer in layers:
        declared = contracts.CONTRACTS.get(layer.name)
        if declared is None:
            raise PlatformError(
                f"layer {layer.name} has no output contract in shared/contracts.py; add it, then run `invoke docs`"
            )
        parts.append(f"#### {layer.name} (`{layer.project}`)\n")
        parts.append("| output | meaning |\n| --- | --- |")
        parts.extend(f"| `{name}` | {_cell(text)} |" for name, text in declared.items())
        parts.append("")
    return "\n".join(parts).rstrip("\n")


def _config_table(schema: dict[str, dict[str, Any]], keys: list[str]) -> str:
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key in keys:
        spec = schema[key]
        kind = spec.get("type") or ("map" if isinstance(spec.get("default"), dict) else "")
        if kind == "array" and isinstance(spec.get("items"), dict):
            kind = f"array of {spec['items'].get('type', 'any')}"
        rows.append(f"| `{key}` | {kind or '-'} | {_default(spec)} | {_cell(str(spec.get('description', '')))} |")
    return "\n".join(rows)


def _environment_config(layers: tuple[manifest.Layer, ...]) -> str:
    # Every layer documents the same environment-wide keys (tests/test_foundation.py); the first
    # layer's text stands for all.
    schema = project_config_schema(layers[0])
    table = _config_table(schema, [key for key in ENVIRONMENT_KEYS if key in schema])
    header, divider, *rows = table.split("\n")
    region = (
        "| `aws:region` | string | - (required for a real run) | Region of the environment, the same for every layer; "
        "never a literal in code. Set by `--region` or in `environments/<env>.yaml`. |"
    )
    return "\n".join([header, divider, region, *rows])


def _layer_config(layers: tuple[manifest.Layer, ...]) -> str:
    parts: list[str] = []
    for layer in layers:
        schema = project_config_schema(layer)
        own = [key for key in schema if key not in ENVIRONMENT_KEYS]
        parts.append(f"### {layer.name} layer (`{layer.project}:`)\n")
        parts.append(_config_table(schema, own) if own else "No settings of its own.")
        parts.append("")
    return "\n".join(parts).rstrip("\n")


GENERATORS: dict[str, Callable[[tuple[manifest.Layer, ...]], str]] = {
    "layers": _layers,
    "outputs": _outputs,
    "environment-config": _environment_config,
    "layer-config": _layer_config,
}


def render(text: str, *, source: str, layers: tuple[manifest.Layer, ...] | None = None) -> str:
    """``text`` with every generated block rewritten from the sources (``source`` names the file in errors)."""
    layers = manifest.LAYERS if layers is None else layers
    out: list[str] = []
    position = 0
    for begin in _BEGIN.finditer(text):
        if begin.start() < position:
            continue
        name = begin["name"]
        if name not in GENERATORS:
            raise PlatformError(f"{source}: unknown generated block {name!r}; known blocks are {', '.join(sorted(GENERATORS))}")
        end_marker = f"<!-- end generated: {name} -->"
        end = text.find(end_marker, begin.end())
        if end < 0:
            line = text.count("\n", 0, begin.start()) + 1
            raise PlatformError(f"{source}, line {line}: generated block {name!r} has no closing {end_marker!r}")
        out.append(text[position : begin.start()])
        out.append(f"<!-- generated: {name} (invoke docs; {_SOURCES[name]}) -->\n")
        out.append(GENERATORS[name](layers) + "\n")
        position = end
    out.append(text[position:])
    return "".join(out)


def stale(root: Path = manifest.REPO_ROOT) -> list[str]:
    """The generated files whose blocks differ from their sources (relative paths)."""
    return [name for name in FILES if (root / name).read_text() != render((root / name).read_text(), source=name)]


def write(root: Path = manifest.REPO_ROOT) -> list[str]:
    """Rewrite every generated block; returns the files that changed."""
    changed = stale(root)
    for name in changed:
        path = root / name
        path.write_text(render(path.read_text(), source=name))
    return changed
