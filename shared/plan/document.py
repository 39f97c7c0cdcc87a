"""The offline plan: render every layer of the manifest in order and build the plan document
(format 1, see docs/plan-format.md)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import manifest
from ..config import is_true
from ..errors import ConfigError, PlatformError
from ..naming import validate_suffix
from ..references import stack_reference_name
from ..settings import validate_region
from ..stack_config import StackConfig, assemble, environment_layers
from .collector import fewer_collections
from .engine import ORGANIZATION, Rendered, render_program, run_main

FORMAT = 1


@dataclass
class LayerPlan:
    layer: manifest.Layer
    rendered: Rendered
    config_sources: tuple[str, ...]
    seconds: float
    # The env-wide `protect` setting this layer was rendered with (deletion protection, final
    # snapshots, longer windows) - readers of the plan must see which mode they are looking at.
    protected: bool = False
    # The env-wide `decommission` setting (only ever true with `protect`): deletion protection
    # lifted for the teardown, final snapshots and backups still kept.
    decommissioning: bool = False

    def to_document(self, env: str) -> dict[str, Any]:
        r = self.rendered
        return {
            "layer": self.layer.name,
            "project": self.layer.project,
            "stack": stack_reference_name(ORGANIZATION, self.layer.name, env),
            "dependsOn": list(self.layer.reads),
            "stackReferences": list(r.stack_references),
            "resources": [
                {
                    "urn": reg.urn,
                    "type": reg.type,
                    "name": reg.name,
                    "parent": reg.parent,
                    "provider": reg.provider,
                    "inputs": reg.inputs,
                }
                for reg in r.registrations
            ],
            "outputs": r.outputs,
            "configSources": list(self.config_sources),
            "protected": self.protected,
            "decommissioning": self.decommissioning,
        }


@dataclass
class Plan:
    env: str
    region: str
    layers: list[LayerPlan]

    def document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "environment": self.env,
            "region": self.region,
            "protected": self.protected,
            "decommissioning": self.decommissioning,
            "layers": [layer.to_document(self.env) for layer in self.layers],
        }

    @property
    def protected(self) -> bool:
        """True when every layer was rendered protected (the env-wide ``protect`` setting)."""
        return bool(self.layers) and all(lp.protected for lp in self.layers)

    @property
    def decommissioning(self) -> bool:
        """True when every layer was rendered protected and decommissioning."""
        return self.protected and all(lp.decommissioning for lp in self.layers)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document(), indent=2, sort_keys=True) + "\n")

    def summary(self) -> str:
        lines = [f"Offline plan of environment '{self.env}' in {self.region} (mock runtime: nothing was deployed)"]
        modes = {(lp.protected, lp.decommissioning) for lp in self.layers}
        if modes == {(True, True)}:
            lines.append(
                "Mode: decommissioning (protect=true, decommission=true): deletion protection lifted for the teardown; "
                "final snapshot, automated backups and the data key are kept"
            )
        elif modes == {(True, False)}:
            lines.append("Mode: protected (protect=true): deletion protection, final snapshots, longer retention windows")
        elif modes == {(False, False)}:
            lines.append("Mode: ephemeral (protect=false): everything destroyable, no final snapshots")
        else:

            def mode(lp: LayerPlan) -> str:
                return ("true" if lp.protected else "false") + (" (decommissioning)" if lp.decommissioning else "")

            per_layer = ", ".join(f"{lp.layer.name}={mode(lp)}" for lp in self.layers)
            lines.append(f"Mode: MIXED - protect or decommission differs between layers: {per_layer}")
        for lp in self.layers:
            regs = lp.rendered.registrations
            counts = Counter(r.type for r in regs)
            lines.append("")
            lines.append(
                f"[{lp.layer.name}] {lp.layer.project}: {len(regs)} resources"
                + (f", reads {', '.join(lp.layer.reads)}" if lp.layer.reads else "")
                + f" ({lp.seconds:.2f}s)"
            )
            for type_token, count in sorted(counts.items()):
                lines.append(f"    {count:3d}  {type_token}")
            lines.append("  outputs:")
            for key, value in lp.rendered.outputs.items():
                shown = json.dumps(value)
                if len(shown) > 100:
                    shown = shown[:97] + "..."
                lines.append(f"    {key} = {shown}")
        return "\n".join(lines)


def _layer_config(layer: manifest.Layer, env: str, region: str, overrides: dict[str, dict[str, Any]] | None) -> StackConfig:
    """The layer's config as a real run assembles it, refused when its environmentSuffix is not ``env``."""
    cfg = assemble(
        layer,
        env,
        overrides={
            "aws:region": region,
            "environmentSuffix": env,
            "pulumiOrg": ORGANIZATION,
            **(overrides or {}).get(layer.name, {}),
        },
    )
    mismatch = cfg.suffix_mismatch(layer.project, env)
    if mismatch:
        # The same refusal as the deploy tasks' pre-flight: a plan must show what up-all would build.
        raise PlatformError(f"{layer.name}: {mismatch}")
    return cfg


def _render_layer(
    layer: manifest.Layer,
    env: str,
    region: str,
    cfg: StackConfig,
    outputs_by_stack: dict[str, dict[str, Any]],
) -> LayerPlan:
    """Render one layer from its assembled config (:func:`_layer_config`) and its upstream layers'
    raw outputs (keyed by stack reference name)."""
    for upstream in layer.reads:
        if stack_reference_name(ORGANIZATION, upstream, env) not in outputs_by_stack:
            raise PlatformError(f"layer {layer.name} reads {upstream}, which is not part of this plan")
    started = time.perf_counter()
    try:
        rendered = render_program(
            run_main(layer.directory),
            project=layer.project,
            stack=env,
            region=region,
            config=cfg.values,
            secret_keys=cfg.secret_keys,
            stack_outputs=outputs_by_stack,
        )
    except ConfigError as exc:
        # Name the file and key the user wrote (environments/<env>.yaml, a stack file), not the namespaced key.
        raise cfg.locate(exc) from None
    protected, decommissioning = (
        is_true(cfg.values.get(f"{layer.project}:{key}", "false")) for key in ("protect", "decommission")
    )
    return LayerPlan(layer, rendered, cfg.sources, time.perf_counter() - started, protected, decommissioning)


def build_plan(
    env: str,
    region: str,
    *,
    layers: Sequence[manifest.Layer] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    parallel: bool = False,
) -> Plan:
    """Render ``layers`` (default: the environment's, see :func:`environment_layers`) in dependency order.

    ``parallel`` splits the layers over one process per usable CPU (shared/plan/parallel.py),
    started at once: every process imports what its layers use while upstream layers render
    elsewhere, and renders a layer as soon as the outputs it reads exist. The document is the same,
    byte for byte (each layer's rendering depends only on its config and upstream outputs). Serial
    is the default for callers that render many plans in one process (tests), where the imports
    are already paid.

    Raises ConfigError/PlatformError (one-paragraph messages) for bad input, before writing anything.
    """
    validate_suffix(env, "--env")
    validate_region(region, "--region")
    with fewer_collections():
        return _build_plan(env, region, layers, overrides, parallel)


def _build_plan(
    env: str,
    region: str,
    layers: Sequence[manifest.Layer] | None,
    overrides: dict[str, dict[str, Any]] | None,
    parallel: bool,
) -> Plan:
    ordered = manifest.ordered(tuple(layers) if layers is not None else environment_layers(env))
    # Every layer's config is read and checked here, before any render starts, and handed to the
    # renderer: this process is the only reader of the config files, so the parallel renderer's
    # layer processes see exactly what the serial one would (and nothing else).
    configs = {layer.name: _layer_config(layer, env, region, overrides) for layer in ordered}
    if parallel and len(ordered) > 1:
        from .parallel import render_layers

        return Plan(env=env, region=region, layers=render_layers(ordered, env, region, configs))
    outputs_by_stack: dict[str, dict[str, Any]] = {}
    plans: list[LayerPlan] = []
    for layer in ordered:
        plan = _render_layer(layer, env, region, configs[layer.name], outputs_by_stack)
        outputs_by_stack[stack_reference_name(ORGANIZATION, layer.name, env)] = plan.rendered.raw_outputs
        plans.append(plan)
    return Plan(env=env, region=region, layers=plans)


__all__ = ["ConfigError", "LayerPlan", "Plan", "PlatformError", "build_plan"]
