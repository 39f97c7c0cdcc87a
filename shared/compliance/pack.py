"""The registry as a Pulumi CrossGuard policy pack (``policy/__main__.py`` builds it from here).

Every rule becomes one policy named by its id, with its enforcement level (mandatory/advisory),
description, controls and fix. The adapters translate pulumi_policy's arguments into the same
normalized view the offline runner builds:

* ``ResourceValidationPolicy`` for RESOURCE rules: ``args.props`` are the resource's inputs
  with the engine's own (camelCase) keys, as in the plan document - pulumi_policy does not
  translate them to snake_case -, numbers as floats (they cross the engine as protobuf
  Structs), secrets unwrapped, unknown values behind the SDK's unknown-checking proxy; judged
  before the resource is created or updated;
* ``StackValidationPolicy`` for STACK rules: the stack's resources with their outputs, judged
  once the stack has been deployed. A stack is one layer: relations that cross layers (the
  ALB in compute, its WAF association in edge) are "not applicable" here with the reason,
  and ``invoke check`` judges them over the whole plan;
* PLAN rules (two renderings) are always "not applicable" in the pack, with the reason.

The environment: stack name and project come from the URN; ``environmentSuffix``, ``protect``
and ``aws:region`` from the stack's config, which the policy SDK loads from the engine
(``PULUMI_CONFIG``) before every analysis. A ``protect`` value in the policy pack's own config
(``pulumi up --policy-pack-config``, or a policy group) wins over the stack's; the source is
named in every waiver. ``decommission`` comes from the stack's config only (``up-all`` writes
``environments/<env>.yaml`` into every layer's): the pack then waives the deletion-protection
rules for that update, so it does not block the very update that allows the teardown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import (
    Severity as PolicySeverity,
)

from .. import APP
from ..config import is_true
from . import rules as _rules  # noqa: F401  (registers every rule)
from .model import Environment, Resource, Status, View
from .registry import REGISTRY, Result, Rule, Scope, Severity, check_resource, check_view

PACK_NAME = f"{APP}-compliance"
DESCRIPTION = (
    "ML API platform compliance rules: AWS Foundational Security Best Practices and the project's own "
    "(the same rules as `invoke check`, from shared/compliance)."
)
FSBP = PolicyComplianceFramework(
    name="AWS Foundational Security Best Practices",
    version="1.0.0",
    reference="https://docs.aws.amazon.com/securityhub/latest/userguide/fsbp-standard.html",
)
PROTECT_SCHEMA = PolicyConfigSchema(
    properties={
        "protect": {
            "type": "boolean",
            "description": "Judge the stack as a protected (true) or ephemeral (false) environment. "
            "Default: the stack's own `<project>:protect` config.",
        }
    }
)

ConfigLookup = Callable[[str], Any | None]


def _pulumi_config(key: str) -> Any | None:
    import pulumi.runtime

    return pulumi.runtime.get_config(key)


def parse_urn(urn: str) -> tuple[str, str]:
    """(stack, project) of ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    head = urn.split("::")
    stack = head[0].rsplit(":", 1)[-1] if head else ""
    project = head[1] if len(head) > 1 else ""
    return stack, project


def layer_of(project: str) -> str:
    prefix = f"{APP}-"
    return project[len(prefix) :] if project.startswith(prefix) else project


def environment(
    urn: str,
    policy_config: Mapping[str, Any] | None = None,
    *,
    lookup: ConfigLookup = _pulumi_config,
    environ: Mapping[str, str] | None = None,
    region_hint: str | None = None,
) -> Environment:
    """The environment a resource or stack belongs to, as a deployment sees it."""
    environ = os.environ if environ is None else environ
    stack, project = parse_urn(urn)
    suffix = lookup(f"{project}:environmentSuffix") or environ.get("ENVIRONMENT_SUFFIX") or stack
    region = lookup("aws:region") or region_hint
    stack_protect = lookup(f"{project}:protect")
    if policy_config and "protect" in policy_config:
        protect, source = is_true(policy_config["protect"]), "from the policy pack's `protect` config"
    elif stack_protect is not None:
        protect, source = is_true(stack_protect), f"from stack config {project}:protect"
    else:
        protect, source = False, "default: no `protect` in the stack's config or the policy config"
    stack_decommission = lookup(f"{project}:decommission")
    if stack_decommission is not None:
        decommission, decommission_source = is_true(stack_decommission), f"from stack config {project}:decommission"
    else:
        decommission, decommission_source = False, "default: no `decommission` in the stack's config"
    return Environment(
        suffix=str(suffix),
        region=str(region) if region else None,
        protect=protect,
        protect_source=source,
        decommission=decommission,
        decommission_source=decommission_source,
    )


def _provider_region(provider: Any) -> str | None:
    if provider is None:
        return None
    try:
        region = provider.props.get("region")
    except Exception:  # an unknown provider input during preview: fall back to the stack's config
        return None
    return region if isinstance(region, str) else None


def resource_from_args(args: ResourceValidationArgs) -> Resource:
    """One resource, from a ResourceValidationPolicy's arguments (inputs only)."""
    _, project = parse_urn(args.urn)
    return Resource(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        inputs=args.props,
        layer=layer_of(project),
        region=_provider_region(args.provider),
        provider=args.provider.urn if args.provider is not None else None,
        parent=getattr(args.opts, "parent", None),
    )


def resource_from_stack(resource: PolicyResource) -> Resource:
    """One resource of a deployed stack (its props are its outputs, inputs included)."""
    _, project = parse_urn(resource.urn)
    dependencies = {key: [d.urn for d in deps] for key, deps in (resource.property_dependencies or {}).items()}
    return Resource(
        type=resource.resource_type,
        name=resource.name,
        urn=resource.urn,
        inputs=resource.props,
        layer=layer_of(project),
        region=_provider_region(resource.provider),
        outputs=resource.props,
        provider=resource.provider.urn if resource.provider is not None else None,
        parent=resource.parent.urn if resource.parent is not None else None,
        dependencies=dependencies,
    )


def _report(rule: Rule, results: list[Result], report_violation: ReportViolation, args: Any, *, with_urn: bool) -> None:
    """Violations to ``report_violation``; when there are none, waivers and out-of-view reasons
    become the policy's "not applicable" reason (which ends the validation)."""
    reasons: list[str] = []
    violated = False
    for result in results:
        if result.status is Status.VIOLATION:
            violated = True
            urn = result.resource.urn if (with_urn and result.resource is not None) else None
            report_violation(f"{result.finding.message}. Fix: {rule.fix}", urn)
        else:
            what = f"{result.resource.label()}: " if result.resource is not None else ""
            reason = f"{what}{result.finding.message} - {result.status.value}: {result.reason}"
            if reason not in reasons:
                reasons.append(reason)
    if reasons and not violated:
        args.not_applicable("; ".join(reasons))


def resource_validation(
    rule: Rule, lookup: ConfigLookup = _pulumi_config
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.judges(args.resource_type):
            return
        resource = resource_from_args(args)
        env = environment(args.urn, args.get_config(), lookup=lookup, region_hint=resource.region)
        _report(rule, check_resource(rule, resource, env), report_violation, args, with_urn=False)

    return validate


def stack_validation(rule: Rule, lookup: ConfigLookup = _pulumi_config) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        if rule.scope is Scope.PLAN:
            args.not_applicable(rule.pack_note)
        resources = [resource_from_stack(r) for r in args.resources]
        if not resources:
            return
        env = environment(resources[0].urn, args.get_config(), lookup=lookup)
        view = View(resources=resources, whole=False, region=env.region)
        _report(rule, check_view(rule, view, env), report_violation, args, with_urn=True)

    return validate


def _metadata(rule: Rule) -> dict[str, Any]:
    return {
        "description": f"{rule.title} [{rule.describe_controls()}]",
        "enforcement_level": EnforcementLevel.MANDATORY if rule.severity is Severity.MANDATORY else EnforcementLevel.ADVISORY,
        "config_schema": PROTECT_SCHEMA if rule.uses_protect else None,
        "display_name": rule.title,
        "severity": PolicySeverity.HIGH if rule.severity is Severity.MANDATORY else PolicySeverity.LOW,
        "framework": FSBP if any(c.startswith("FSBP ") for c in rule.controls) else None,
        "tags": list(rule.controls),
        "remediation_steps": rule.fix + (f" ({rule.pack_note})" if rule.pack_note else ""),
    }


def build_policies(lookup: ConfigLookup = _pulumi_config) -> list[Policy]:
    """One policy per registered rule, in registry order."""
    policies: list[Policy] = []
    for rule in REGISTRY:
        if rule.scope is Scope.RESOURCE:
            policies.append(ResourceValidationPolicy(name=rule.id, validate=resource_validation(rule, lookup), **_metadata(rule)))
        else:
            policies.append(StackValidationPolicy(name=rule.id, validate=stack_validation(rule, lookup), **_metadata(rule)))
    return policies
