"""The rule registry: every rule once, with what both runners need to know about it.

A rule is a small pure function plus metadata: id, title, severity (mandatory rules fail
``invoke check`` and block ``pulumi up --policy-pack policy``; advisory ones are reported),
the controls it comes from, the fix, and its scope:

* ``RESOURCE``: judged on one resource's inputs (``types`` says which);
* ``STACK``: needs several resources (an ALB and its WAF association, a VPC and its flow log);
  the offline runner gives it the whole plan, the policy pack one stack;
* ``PLAN``: needs two renderings of the whole environment (literal region/account detection);
  only the offline runner can judge it.

``applies_to`` makes a rule environment-aware: ``PROTECTED`` rules (deletion protection, final
snapshots, multi-AZ) are waived for ephemeral environments and ``EPHEMERAL`` rules (everything
destroyable) are waived for protected ones; the waiver and its reason appear in the report.
A decommissioning environment (``protect`` and ``decommission``) is being torn down: the
``PROTECTED`` rules marked ``lifted_while_decommissioning`` (deletion protection) are waived for
it, the others (final snapshot, backups) still apply, and so do the ``EPHEMERAL`` ones - it must
be destroyable.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .model import Environment, Finding, Resource, Status, View


class Severity(enum.Enum):
    MANDATORY = "mandatory"
    ADVISORY = "advisory"


class Scope(enum.Enum):
    RESOURCE = "resource"
    STACK = "stack"
    PLAN = "plan"


class AppliesTo(enum.Enum):
    ALL = "all"
    PROTECTED = "protected"
    EPHEMERAL = "ephemeral"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    controls: tuple[str, ...]
    fix: str
    scope: Scope
    check: Callable[..., Iterable[Any]]
    types: tuple[str, ...] = ()
    applies_to: AppliesTo = AppliesTo.ALL
    # Why the rule is waived where it does not apply (shown in reports and as the pack's
    # "not applicable" reason).
    waiver: str = ""
    # For STACK/PLAN rules: what a single stack (the policy pack) can and cannot judge.
    pack_note: str = ""
    # The outcome depends on whether the environment is protected (the pack then offers a
    # ``protect`` policy config setting).
    uses_protect: bool = False
    # A PROTECTED rule whose requirement makes `pulumi destroy` fail (deletion protection): waived
    # while the environment is decommissioning, or it would block the update that allows the teardown.
    lifted_while_decommissioning: bool = False

    def judges(self, type_token: str) -> bool:
        """Whether this RESOURCE rule looks at resources of ``type_token`` (patterns allowed: ``aws:*``)."""
        return any(fnmatch.fnmatchcase(type_token, pattern) for pattern in self.types)

    @property
    def mandatory(self) -> bool:
        return self.severity is Severity.MANDATORY

    def describe_controls(self) -> str:
        return ", ".join(self.controls)


@dataclass(frozen=True)
class Result:
    rule: Rule
    finding: Finding
    status: Status
    reason: str = ""

    @property
    def resource(self) -> Resource | None:
        return self.finding.resource


REGISTRY: list[Rule] = []


def rule(
    id: str,
    *,
    title: str,
    controls: tuple[str, ...],
    fix: str,
    severity: Severity = Severity.MANDATORY,
    scope: Scope = Scope.RESOURCE,
    types: tuple[str, ...] = (),
    applies_to: AppliesTo = AppliesTo.ALL,
    waiver: str = "",
    pack_note: str = "",
    uses_protect: bool = False,
    lifted_while_decommissioning: bool = False,
) -> Callable[[Callable[..., Iterable[Any]]], Callable[..., Iterable[Any]]]:
    """Register the decorated function as a rule (the function stays callable on its own)."""

    def register(func: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
        if any(r.id == id for r in REGISTRY):
            raise ValueError(f"duplicate rule id {id}")
        if scope is Scope.RESOURCE and not types:
            raise ValueError(f"resource rule {id} must name the resource types it judges")
        if scope is not Scope.RESOURCE and not pack_note:
            raise ValueError(f"{scope.value} rule {id} must say what one stack (the policy pack) can judge")
        if applies_to is not AppliesTo.ALL and not waiver:
            raise ValueError(f"environment-aware rule {id} must explain its waiver")
        if lifted_while_decommissioning and applies_to is not AppliesTo.PROTECTED:
            raise ValueError(f"rule {id}: only a protected-environment rule can be lifted while decommissioning")
        REGISTRY.append(
            Rule(
                id=id,
                title=title,
                severity=severity,
                controls=controls,
                fix=fix,
                scope=scope,
                check=func,
                types=types,
                applies_to=applies_to,
                waiver=waiver,
                pack_note=pack_note,
                uses_protect=uses_protect or applies_to is not AppliesTo.ALL,
                lifted_while_decommissioning=lifted_while_decommissioning,
            )
        )
        return func

    return register


def by_id(rule_id: str) -> Rule:
    for r in REGISTRY:
        if r.id == rule_id:
            return r
    raise KeyError(f"no rule {rule_id!r}")


DECOMMISSIONING_WAIVER = (
    "deletion protection is lifted so `pulumi destroy` can remove the environment; the final snapshot, "
    "automated backups and the data key are still kept"
)


def _waiver(r: Rule, env: Environment) -> str | None:
    if r.applies_to is AppliesTo.PROTECTED and not env.protect:
        return f"ephemeral environment (protect=false, {env.protect_source}): {r.waiver}"
    if r.lifted_while_decommissioning and env.decommissioning:
        return (
            f"decommissioning environment (protect=true, {env.protect_source}; decommission=true, "
            f"{env.decommission_source}): {DECOMMISSIONING_WAIVER}"
        )
    if r.applies_to is AppliesTo.EPHEMERAL and env.blocks_deletion:
        return f"protected environment (protect=true, {env.protect_source}): {r.waiver}"
    return None


def classify(r: Rule, finding: Finding, env: Environment) -> Result:
    if finding.not_judged:
        return Result(r, finding, Status.NOT_JUDGED, finding.not_judged)
    if finding.waived:
        return Result(r, finding, Status.WAIVED, finding.waived)
    waiver = _waiver(r, env)
    if waiver:
        return Result(r, finding, Status.WAIVED, waiver)
    return Result(r, finding, Status.VIOLATION)


def check_resource(r: Rule, resource: Resource, env: Environment) -> list[Result]:
    """Run a RESOURCE rule on one resource (nothing if the rule does not judge its type)."""
    if r.scope is not Scope.RESOURCE or not r.judges(resource.type):
        return []
    results = []
    for item in r.check(resource, env):
        finding = item if isinstance(item, Finding) else Finding(resource, str(item))
        results.append(classify(r, finding, env))
    return results


def check_view(r: Rule, view: View, env: Environment) -> list[Result]:
    """Run any rule over a view: RESOURCE rules on each resource of their types, STACK and PLAN
    rules once over the view."""
    if r.scope is Scope.RESOURCE:
        return [res for resource in view for res in check_resource(r, resource, env)]
    return [classify(r, finding, env) for finding in r.check(view, env)]
