"""The output contract: every layer's export names, declared once.

A layer exports through :func:`export` (which refuses a missing or undeclared name) and a reader
reads through :class:`shared.references.Upstream` (which refuses a name its upstream does not
declare). Names are an API other tools rely on: add names, never rename or drop them.
"""

from __future__ import annotations

from typing import Any, Mapping

import pulumi

CONTRACTS: dict[str, dict[str, str]] = {
    "network": {
        "vpcId": "ID of the VPC.",
        "vpcCidr": "IPv4 CIDR block of the VPC.",
        "availabilityZones": "The three availability zones the subnets span, in subnet order.",
        "publicSubnetIds": "IDs of the public subnets (one per AZ), for the load balancer.",
        "privateSubnetIds": "IDs of the private subnets (one per AZ), for tasks and the database.",
        "privateRouteTableIds": "IDs of the private route tables (for more gateway endpoints).",
        "natGatewayIds": "IDs of the NAT gateways (one, or one per AZ).",
        "albSecurityGroupId": "Security group of the internet-facing load balancer.",
        "serviceSecurityGroupId": "Security group of the service's Fargate tasks.",
        "databaseSecurityGroupId": "Security group of the Aurora cluster.",
        "servicePort": "Container port the tasks listen on; the ALB->tasks rule opens only this port.",
        "databasePort": "PostgreSQL port; the tasks->database rule opens only this port.",
        "flowLogGroupName": "CloudWatch log group receiving the VPC flow logs.",
    },
}


def names(layer: str) -> frozenset[str]:
    """The export names ``layer`` declares."""
    try:
        return frozenset(CONTRACTS[layer])
    except KeyError:
        raise KeyError(f"no output contract for layer {layer!r}") from None


def check(layer: str, values: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``values`` has exactly the names the contract declares."""
    declared = names(layer)
    missing = sorted(declared - set(values))
    extra = sorted(set(values) - declared)
    if missing or extra:
        raise ValueError(
            f"layer {layer} exports do not match its contract in shared/contracts.py: "
            f"missing {missing or 'none'}, undeclared {extra or 'none'}"
        )


def export(layer: str, values: Mapping[str, Any]) -> None:
    """Export ``values`` as the stack outputs of ``layer`` after checking them against the contract."""
    check(layer, values)
    for key in CONTRACTS[layer]:
        pulumi.export(key, values[key])
