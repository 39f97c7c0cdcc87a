"""What the data layer reads from the network layer (StackReferences only)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from shared.references import Upstream
from shared.settings import EnvironmentSettings


@dataclass(frozen=True)
class NetworkInputs:
    private_subnet_ids: pulumi.Output[list[str]]
    availability_zones: pulumi.Output[list[str]]
    database_security_group_id: pulumi.Output[str]
    database_port: pulumi.Output[int]


def read_network(env: EnvironmentSettings) -> NetworkInputs:
    network = Upstream(env, "network")
    return NetworkInputs(
        private_subnet_ids=network.require("privateSubnetIds"),
        availability_zones=network.require("availabilityZones"),
        database_security_group_id=network.require("databaseSecurityGroupId"),
        database_port=network.require_int("databasePort"),
    )
