"""What rules of several domains share."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from ...aws_types import ROUTE, ROUTE_TABLE, ROUTE_TABLE_ASSOCIATION, SUBNET
from ..model import Finding, View, as_list, get, is_mapping, parse_json, referenced, refers, text, truthy

# Destinations that mean "anywhere": IPv4 and IPv6.
WORLD = {"0.0.0.0/0", "::/0"}


def unreferenced(view: View, of: str, *, by: str, through: str, message: str) -> Iterator[Finding]:
    """A finding for every resource of type ``of`` that no resource of type ``by`` names in its
    input ``through`` (a secret without a rotation, a web ACL without logging, ...)."""
    companions = view.of_type(by)
    for resource in view.of_type(of):
        if not any(refers(companion, through, resource) for companion in companions):
            yield Finding(resource, message)


# -- subnets --------------------------------------------------------------------------------------
def public_subnet_reasons(view: View) -> dict[str, str]:
    """URN of each subnet that is public -> why (auto-assigned public IPs, or a route to an IGW)."""
    reasons: dict[str, str] = {}
    subnets = view.of_type(SUBNET)
    tables = view.of_type(ROUTE_TABLE)
    igw_tables: set[str] = set()
    for table in tables:
        if any(
            text(get(route, "gatewayId")).startswith("igw-") and text(get(route, "cidrBlock")) in WORLD
            for route in as_list(table.get("routes"))
        ):
            igw_tables.add(table.urn)
    for route in view.of_type(ROUTE):
        if text(route.get("gatewayId")).startswith("igw-"):
            igw_tables.update(t.urn for t in referenced(view, route, "routeTableId", ROUTE_TABLE))
    for association in view.of_type(ROUTE_TABLE_ASSOCIATION):
        if any(t.urn in igw_tables for t in referenced(view, association, "routeTableId", ROUTE_TABLE)):
            for subnet in referenced(view, association, "subnetId", SUBNET):
                reasons[subnet.urn] = "its route table sends 0.0.0.0/0 to an internet gateway"
    for subnet in subnets:
        if truthy(subnet.get("mapPublicIpOnLaunch")):
            reasons[subnet.urn] = "it assigns public IPs on launch"
    return reasons


# -- resource policies (KMS keys, VPC endpoints) ----------------------------------------------------
def public_statements(policy: Any) -> Iterator[dict[str, Any]]:
    """The Allow statements of a resource policy whose principal is '*'."""
    doc = parse_json(policy)
    if not is_mapping(doc):
        return
    for statement in as_list(doc.get("Statement")):
        if not is_mapping(statement) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        principals = (
            [principal] if isinstance(principal, str) else as_list(get(principal, "AWS")) if is_mapping(principal) else []
        )
        if "*" in principals:
            yield statement


# Only positive, exact comparisons limit a '*' principal: StringNotEquals opens the resource to every
# other account, a Null check or an ...IfExists operator passes when the key is absent, and a
# wildcard value matches anyone.
LIMITING_OPERATORS = {"stringequals", "stringequalsignorecase", "arnequals"}


def limits_to_accounts(condition: Any, keys: Collection[str]) -> bool:
    """Whether a Condition block pins the caller to named accounts through one of ``keys`` (lower case)."""
    if not is_mapping(condition):
        return False
    for operator, block in condition.items():
        if str(operator).lower() not in LIMITING_OPERATORS or not is_mapping(block):
            continue
        for key, value in block.items():
            values = [text(v) for v in as_list(value)]
            if key.lower() in keys and values and not any("*" in v or "?" in v or not v for v in values):
                return True
    return False
