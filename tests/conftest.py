"""Shared fixtures: render layers offline (the plan engine) and read what they registered."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from shared import manifest
from shared.plan.document import Plan, build_plan

ROOT = Path(__file__).resolve().parent.parent
# Tests import layer modules directly (``from mlapi_network.vpc import Vpc``), as each layer's
# program does from its own directory: put the manifest's layer directories on the path.
for _layer in manifest.LAYERS:
    if str(_layer.directory) not in sys.path:
        sys.path.insert(0, str(_layer.directory))

# Identical renders are shared for the session (each xdist worker has its own): tests only read
# plans, and most ask for the same few. Keyed by every argument; a test that changes files the
# render reads (environment or stack files) uses its own env name, so it never hits a stale entry.
# A test that patches the render machinery to observe a render (a recording RegisterResource)
# must see a real render: then nothing is cached or reused.
_RENDERED: dict[str, Plan] = {}


def _hooks() -> tuple[object, ...]:
    from shared.plan import engine, mocks

    methods = ("RegisterResource", "ReadResource", "Invoke", "RegisterResourceOutputs", "new_resource", "call")
    patched = [vars(cls).get(name) for cls in (engine.RecordingMonitor, mocks.PlatformMocks) for name in methods]
    return (*patched, engine.render_program, engine.run_main)


_PRISTINE = _hooks()


def plan_layers(
    *names: str,
    env: str = "test",
    region: str = "us-east-1",
    config: dict[str, dict[str, Any]] | None = None,
) -> Plan:
    """Render the named layers (and everything they read, first) with per-layer config overrides.

    Memoized per session: do not mutate the returned plan."""
    if _hooks() != _PRISTINE:
        return _render(*names, env=env, region=region, config=config)
    key = json.dumps([sorted(names), env, region, config or {}], sort_keys=True, default=str)
    if key not in _RENDERED:
        _RENDERED[key] = _render(*names, env=env, region=region, config=config)
    return _RENDERED[key]


def _render(*names: str, env: str, region: str, config: dict[str, dict[str, Any]] | None) -> Plan:
    wanted: set[str] = set()

    def add(name: str) -> None:
        if name not in wanted:
            wanted.add(name)
            for upstream in manifest.by_name(name).reads:
                add(upstream)

    for name in names:
        add(name)
    layers = [layer for layer in manifest.LAYERS if layer.name in wanted]
    return build_plan(env, region, layers=layers, overrides=config or {})


def layer_of(plan: Plan, name: str):
    for lp in plan.layers:
        if lp.layer.name == name:
            return lp.rendered
    raise KeyError(name)


def policy(value: Any) -> dict[str, Any]:
    """Parse a policy document input (JSON string or dict)."""
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="session")
def default_plan() -> Plan:
    """The whole default environment, rendered once for the session."""
    return build_plan("demo", "us-east-1")
