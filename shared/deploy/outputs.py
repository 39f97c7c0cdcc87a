"""The flat outputs file (``cfn-outputs/flat-outputs.json``) that integration tests and CI read.

Layout: one JSON object. Every output appears as ``<layer>.<name>`` (always unambiguous) and, for
the integration tests written against a single stack, under its plain ``<name>`` too, unless two
layers export that name with different values: then the plain name is left out (and reported),
never silently taken from one of them. Values keep their JSON types (lists stay lists).

Secrets: outputs are read without ``--show-secrets``, so the CLI already prints secret values as
``"[secret]"``; any value still carrying Pulumi's secret signature is replaced the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..manifest import REPO_ROOT

DEFAULT_PATH = REPO_ROOT / "cfn-outputs" / "flat-outputs.json"
SECRET = "[secret]"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def redact(value: Any) -> Any:
    """``value`` with everything Pulumi marks secret replaced by ``"[secret]"``."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return SECRET
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass
class Flat:
    values: dict[str, Any] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)


def flatten(by_layer: Mapping[str, Mapping[str, Any]]) -> Flat:
    """``{layer: {name: value}}`` (in manifest order) -> the flat mapping described above."""
    flat = Flat()
    exporters: dict[str, list[str]] = {}
    for layer, outputs in by_layer.items():
        for name, value in outputs.items():
            flat.values[f"{layer}.{name}"] = redact(value)
            exporters.setdefault(name, []).append(layer)
    for name, layers in exporters.items():
        distinct = {json.dumps(flat.values[f"{lyr}.{name}"], sort_keys=True) for lyr in layers}
        if len(distinct) == 1:
            flat.values[name] = flat.values[f"{layers[0]}.{name}"]
        else:
            flat.ambiguous[name] = [f"{lyr}.{name}" for lyr in layers]
    return flat


def write(path: Path, flat: Flat) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(flat.values, indent=2, sort_keys=True) + "\n")
