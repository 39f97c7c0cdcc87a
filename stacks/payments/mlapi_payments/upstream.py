"""What the payments layer reads from the network and data layers (StackReferences only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from shared.errors import PlatformError
from shared.references import Upstream
from shared.settings import EnvironmentSettings


@dataclass(frozen=True)
class NetworkInputs:
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    private_subnet_ids: pulumi.Input[list[str]]
    alb_security_group_id: pulumi.Output[str]
    service_security_group_id: pulumi.Output[str]
    service_port: pulumi.Output[int]


@dataclass(frozen=True)
class DataInputs:
    cluster_endpoint: pulumi.Input[str]
    reader_endpoint: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: pulumi.Input[str]
    master_secret_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


def _present(output: str, stack: str) -> Any:
    def check(value: Any) -> Any:
        # The network layer exports "" / 0 for these when it was deployed without the payments layer.
        if not value:
            raise PlatformError(
                f"the network stack {stack} exports no {output}: it was deployed for an environment without the payments "
                "layer. Add payments to `layers` in environments/<env>.yaml (or leave `layers` empty), deploy the network "
                "layer again, then this one."
            )
        return value

    return check


def read_network(env: EnvironmentSettings) -> NetworkInputs:
    network = Upstream(env, "network")
    return NetworkInputs(
        vpc_id=network.require("vpcId"),
        public_subnet_ids=network.require("publicSubnetIds"),
        private_subnet_ids=network.require("privateSubnetIds"),
        alb_security_group_id=network.require("paymentsAlbSecurityGroupId").apply(
            _present("paymentsAlbSecurityGroupId", network.name)
        ),
        service_security_group_id=network.require("paymentsServiceSecurityGroupId").apply(
            _present("paymentsServiceSecurityGroupId", network.name)
        ),
        service_port=network.require_int("paymentsServicePort").apply(_present("paymentsServicePort", network.name)),
    )


def read_data(env: EnvironmentSettings) -> DataInputs:
    data = Upstream(env, "data")
    return DataInputs(
        cluster_endpoint=data.require("clusterEndpoint"),
        reader_endpoint=data.require("readerEndpoint"),
        database_port=data.require_int("databasePort"),
        database_name=data.require("databaseName"),
        master_secret_arn=data.require("masterSecretArn"),
        kms_key_arn=data.require("kmsKeyArn"),
    )
