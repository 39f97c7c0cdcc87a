"""No literal region or account id in resource inputs.

A region or account id may reach a resource's inputs only from the provider or a data source
(``aws.get_caller_identity``, ``aws.get_region``, another resource's ARN, a StackReference). The
rule tells the two apart by *varying them*: the offline runner renders the same environment a
second time in another region with another (mock) account. Every region or account id that
still reads the same in the second rendering, at the same place in the same resource, did not
come from the provider: it was written into the code or its config. Whatever followed the
rendering was derived.

One literal is legitimate: a provider pinned to us-east-1, because CloudFront accepts ACM
certificates and CLOUDFRONT-scope WAF web ACLs only from there. Resources of that provider, and
ARNs of its resources quoted elsewhere, carry us-east-1 in both renderings; they are derived from
the pin, and the pin itself is checked against the allowed list.

Region ids are matched against botocore's list of regions; account ids only where accounts
appear (the account field of an ARN, an ECR registry host, a whole 12-digit string value), so a
12-digit run inside a random identifier is never mistaken for one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from ..aws_types import AWS_PROVIDER
from .model import Environment, Finding, Resource, View, as_list, is_mapping, is_sequence
from .registry import Scope, rule

PROVIDER = AWS_PROVIDER
ALLOWED_PINS = {
    "us-east-1": "CloudFront accepts ACM certificates and CLOUDFRONT-scope WAF web ACLs only from us-east-1",
}
TWIN_NOTE = (
    "needs a second rendering of the whole environment in another region and account, which only "
    "`invoke check` does; a policy pack sees one deployment in one region"
)
ACCOUNT_PATTERNS = (
    re.compile(r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:(\d{12}):"),
    re.compile(r"(?<![0-9])(\d{12})\.dkr\.ecr\."),
    re.compile(r'"(\d{12})"'),
    re.compile(r"^(\d{12})$"),
)
ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]*):[^\s\"',]*")


@functools.lru_cache(maxsize=1)
def _region_pattern() -> re.Pattern[str]:
    from ..settings import known_regions

    names = sorted(known_regions(), key=len, reverse=True)
    # A region also appears inside AZ names (us-east-1a): a trailing letter is allowed, a digit is not.
    return re.compile(r"(?<![a-z0-9-])(" + "|".join(map(re.escape, names)) + r")(?![0-9])")


def tokens(value: str) -> set[tuple[str, str]]:
    """The ("region", id) and ("account", id) tokens in one string."""
    found = {("region", m.group(1)) for m in _region_pattern().finditer(value)}
    for pattern in ACCOUNT_PATTERNS:
        found.update(("account", m.group(1)) for m in pattern.finditer(value))
    return found


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, string) for every string inside an input value."""
    if isinstance(value, str):
        yield path, value
    elif is_mapping(value):
        for key in value:
            yield from leaves(value[key], (*path, str(key)))
    elif is_sequence(value):
        for index, item in enumerate(as_list(value)):
            yield from leaves(item, (*path, str(index)))


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if is_mapping(value) and part in value:
            value = value[part]
        elif is_sequence(value) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _provider_urn(resource: Resource) -> str | None:
    return resource.provider.rsplit("::", 1)[0] if resource.provider else None


@rule(
    "no-literal-region-or-account",
    title="No literal region or account id in resource inputs",
    controls=("MLAPI no hard-coded region",),
    fix="Take the region from the provider/settings (env.region) and the account/partition from "
    "shared.aws_identity.AwsIdentity (get_caller_identity/get_partition); use ARNs from resource outputs. "
    "Pin a provider to a region only where AWS requires it (us-east-1 for CloudFront certificates and WAF).",
    scope=Scope.PLAN,
    pack_note="Judged only by `invoke check`: " + TWIN_NOTE + ".",
)
def no_literal_region_or_account(view: View, env: Environment) -> Iterator[Finding]:
    twin = view.twin
    if twin is None:
        yield Finding(None, "not checked", not_judged=TWIN_NOTE)
        return

    pinned: dict[str, str] = {}  # provider URN -> region it is pinned to
    for provider in view.of_type(PROVIDER):
        other = twin.by_urn(provider.urn)
        region = provider.inputs.get("region")
        if not isinstance(region, str) or other is None or other.inputs.get("region") != region:
            continue
        pinned[provider.urn] = region
        if region not in ALLOWED_PINS:
            yield Finding(
                provider,
                f"the provider is pinned to the literal region {region!r} (it did not follow the "
                f"environment's region in a rendering for {twin.region})",
            )
    pinned_arns = {r.arn for r in view if _provider_urn(r) in pinned and r.arn}

    for resource in view:
        if not resource.is_aws:
            continue
        other = twin.by_urn(resource.urn)
        if other is None:
            continue  # not in the second rendering (region-dependent resource): nothing to compare
        own_pin = pinned.get(_provider_urn(resource) or "")
        literal: list[str] = []
        for path, value in leaves(resource.inputs):
            found = tokens(value)
            if not found:
                continue
            twin_value = _at(other.inputs, path)
            if isinstance(twin_value, str):
                twin_found = tokens(twin_value)
            else:
                twin_found = set().union(*(tokens(v) for _, v in leaves(other.inputs)))
            for kind, token in sorted(found & twin_found):
                if kind == "region" and token in pinned.values():
                    if own_pin == token:
                        continue  # derived from this resource's own (allowed) pinned provider
                    quoted = [
                        m
                        for m in ARN.finditer(value)
                        if m.group(1) == token and any(m.group(0).startswith(a) for a in pinned_arns)
                    ]
                    if quoted:
                        continue  # the ARN of a resource that lives in the pinned region
                where = "inputs." + ".".join(path) if path else "inputs"
                literal.append(f"{where} contains the literal {kind} {token!r}")
        if literal:
            shown = "; ".join(sorted(set(literal))[:5]) + (f" (+{len(set(literal)) - 5} more)" if len(set(literal)) > 5 else "")
            yield Finding(
                resource,
                f"{shown} - unchanged when the environment was rendered for region {twin.region} and account {twin.account}",
            )
