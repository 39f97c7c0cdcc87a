"""The offline runner behind ``invoke check``: the whole environment's plan through every rule.

The plan comes from a file (``--plan``) or is rendered in-process with
:func:`shared.plan.document.build_plan`. Whether the environment is protected comes from, first
match wins: ``--protect``; the mode the plan's layers were rendered in (``protected`` on each
layer of the document, when they agree); a layer's ``protected`` output (the data layer's); the
environment-wide ``protect`` setting the layers read (``environments/<env>.yaml``, stack files,
Pulumi.yaml defaults); else false. Whether it is decommissioning comes the same way (without a
flag): the plan's layers (``decommissioning``), the data layer's ``decommissioning`` output, the
environment's ``decommission`` setting; else false.

For the literal region/account rule the environment is rendered a second time, in another
region and with another mock account (see literals.py).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import manifest
from ..config import is_true
from ..errors import ConfigError, PlatformError
from ..plan.document import Plan, build_plan
from ..plan.mocks import MOCK_ACCOUNT_ID, mock_account
from ..stack_config import assemble
from . import rules as _rules  # noqa: F401  (registers every rule)
from .model import Environment, View
from .plan_view import view_from_document
from .runner import Report, run

# Another AWS documentation account, and regions other than the one checked (never us-east-1,
# where CloudFront's pinned providers live: a literal us-east-1 must still stand out).
TWIN_ACCOUNT = "444455556666"
TWIN_REGIONS = ("eu-west-1", "ap-southeast-2")


def _resolve(document: Mapping[str, Any], env: str, *, mode: str, output: str, setting: str) -> tuple[bool, str]:
    """An environment-wide boolean: the mode every layer of the plan was rendered in (``mode`` on
    each layer); a layer's ``output`` (the data layer's); the environment's ``setting``."""
    modes = {layer.get(mode) for layer in document.get("layers", [])}
    if len(modes) == 1 and isinstance(next(iter(modes)), bool):
        value = next(iter(modes))
        return value, f"the plan's layers were all rendered with {setting}={'true' if value else 'false'}"
    for layer in document.get("layers", []):
        value = (layer.get("outputs") or {}).get(output)
        if isinstance(value, bool):
            return value, f"from the {layer.get('layer')} layer's `{output}` output"
    for layer in manifest.ordered():
        values = assemble(layer, env).values
        key = f"{layer.project}:{setting}"
        if key in values:
            return is_true(values[key]), f"from the environment's `{setting}` setting ({layer.project})"
    return False, "default"


def resolve_protect(document: Mapping[str, Any], env: str, flag: bool | None = None) -> tuple[bool, str]:
    """Whether the environment is protected, and where that came from: --protect; the mode every
    layer of the plan was rendered in; a layer's `protected` output (the data layer's); the
    environment's `protect` setting."""
    if flag is not None:
        return flag, "from --protect"
    return _resolve(document, env, mode="protected", output="protected", setting="protect")


def resolve_decommission(document: Mapping[str, Any], env: str) -> tuple[bool, str]:
    """Whether the environment is being decommissioned, and where that came from: the mode every
    layer of the plan was rendered in; a layer's `decommissioning` output (the data layer's); the
    environment's `decommission` setting."""
    return _resolve(document, env, mode="decommissioning", output="decommissioning", setting="decommission")


def _states(plan: Plan) -> dict[str, Mapping[str, Any]]:
    return {reg.urn: reg.state for lp in plan.layers for reg in lp.rendered.registrations}


def _protect_overrides(protect: bool, decommission: bool = False) -> dict[str, dict[str, Any]]:
    mode = {"protect": protect, **({"decommission": True} if protect and decommission else {})}
    return {layer.name: dict(mode) for layer in manifest.LAYERS}


def load(
    env: str,
    *,
    region: str | None = None,
    plan_file: Path | None = None,
    protect: bool | None = None,
    twin: bool = True,
    parallel: bool = False,
) -> tuple[View, Environment, list[str]]:
    """The view, environment and notes for ``env`` (a plan file or a rendering, in layer processes
    when ``parallel``: see :func:`shared.plan.document.build_plan`)."""
    notes: list[str] = []
    if plan_file is not None:
        try:
            document = json.loads(Path(plan_file).read_text())
        except (OSError, ValueError) as exc:
            raise PlatformError(f"cannot read the plan document {plan_file}: {exc}") from None
        if document.get("format") != 1:
            raise PlatformError(f"{plan_file} is not a format-1 plan document (see docs/plan-format.md)")
        if document.get("environment") != env:
            raise ConfigError("--env", env, f"the environment of {plan_file}, {document.get('environment')!r}")
        if region and region != document.get("region"):
            raise ConfigError("--region", region, f"the region of {plan_file}, {document.get('region')!r} (or leave it out)")
        states = None
        notes.append(f"plan read from {plan_file}; outputs re-derived with the plan's mocks")
    else:
        if region is None:
            raise ConfigError("--region", region, "an AWS region code")
        plan = build_plan(env, region, overrides=_protect_overrides(True) if protect else None, parallel=parallel)
        document = plan.document()
        states = _states(plan)
    protected, source = resolve_protect(document, env, True if protect else None)
    decommission, decommission_source = resolve_decommission(document, env)
    view = view_from_document(document, states=states, account=MOCK_ACCOUNT_ID)
    environment = Environment(
        suffix=env,
        region=str(document.get("region")),
        protect=protected,
        protect_source=source,
        decommission=decommission,
        decommission_source=decommission_source,
    )
    if twin:
        twin_region = next(r for r in TWIN_REGIONS if r != document.get("region"))
        layers = [lyr for lyr in manifest.LAYERS if lyr.name in view.layers]
        try:
            # The second rendering's warnings repeat the first one's: keep them off the report.
            with mock_account(TWIN_ACCOUNT), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                other = build_plan(
                    env, twin_region, layers=layers, overrides=_protect_overrides(protected, decommission), parallel=parallel
                )
        except (ConfigError, PlatformError) as exc:
            notes.append(f"second rendering for {twin_region} failed, literal region/account not checked: {exc}")
        else:
            view.twin = view_from_document(other.document(), states=_states(other), account=TWIN_ACCOUNT)
    return view, environment, notes


def check_environment(
    env: str,
    *,
    region: str | None = None,
    plan_file: Path | None = None,
    protect: bool | None = None,
    parallel: bool = False,
) -> Report:
    """Check the whole environment ``env`` against every rule (rendered in layer processes when ``parallel``)."""
    view, environment, notes = load(env, region=region, plan_file=plan_file, protect=protect, parallel=parallel)
    return run(view, environment, notes=notes)
