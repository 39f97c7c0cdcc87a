"""What the edge layer reads from the network and compute layers (StackReferences only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from shared.errors import PlatformError
from shared.references import Upstream
from shared.settings import EnvironmentSettings

ORIGIN_PROTOCOLS = ("https", "http")


@dataclass(frozen=True)
class ComputeInputs:
    alb_arn: pulumi.Input[str]
    origin_protocol: pulumi.Output[str]  # "https" or "http"
    origin_hostname: pulumi.Input[str]


@dataclass(frozen=True)
class NetworkInputs:
    alb_security_group_id: pulumi.Input[str]


def checked_protocol(value: pulumi.Input[Any], source: str = "compute layer output originProtocol") -> pulumi.Output[str]:
    """The origin protocol, refusing anything but the two CloudFront can be told to use."""

    def check(protocol: Any) -> str:
        if protocol not in ORIGIN_PROTOCOLS:
            raise PlatformError(
                f"{source} is {protocol!r}: expected 'https' or 'http'. `up` the compute layer (same environment) first."
            )
        if protocol == "http":
            pulumi.log.warn(
                "edge: the load balancer has no certificate, so CloudFront reaches it over plain HTTP; "
                "set mlapi-compute:albDomainName and mlapi-compute:hostedZoneId for an HTTPS origin"
            )
        return str(protocol)

    return pulumi.Output.from_input(value).apply(check)


def read_compute(env: EnvironmentSettings) -> ComputeInputs:
    compute = Upstream(env, "compute")
    return ComputeInputs(
        alb_arn=compute.require("albArn"),
        origin_protocol=checked_protocol(compute.require("originProtocol")),
        origin_hostname=compute.require("originHostname"),
    )


def read_network(env: EnvironmentSettings) -> NetworkInputs:
    network = Upstream(env, "network")
    return NetworkInputs(alb_security_group_id=network.require("albSecurityGroupId"))
