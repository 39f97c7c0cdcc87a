"""What the compute layer reads from the network and data layers (StackReferences only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from shared.references import Upstream
from shared.settings import EnvironmentSettings


@dataclass(frozen=True)
class NetworkInputs:
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    private_subnet_ids: pulumi.Input[list[str]]
    alb_security_group_id: pulumi.Input[str]
    service_security_group_id: pulumi.Input[str]
    service_port: pulumi.Output[int]


@dataclass(frozen=True)
class DataInputs:
    cluster_endpoint: pulumi.Input[str]
    reader_endpoint: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: pulumi.Input[str]
    master_secret_arn: pulumi.Input[str]
    application_secret_arns: pulumi.Output[Mapping[str, str]]
    session_table_name: pulumi.Input[str]
    session_table_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


def read_network(env: EnvironmentSettings) -> NetworkInputs:
    network = Upstream(env, "network")
    return NetworkInputs(
        vpc_id=network.require("vpcId"),
        public_subnet_ids=network.require("publicSubnetIds"),
        private_subnet_ids=network.require("privateSubnetIds"),
        alb_security_group_id=network.require("albSecurityGroupId"),
        service_security_group_id=network.require("serviceSecurityGroupId"),
        service_port=network.require_int("servicePort"),
    )


def read_data(env: EnvironmentSettings) -> DataInputs:
    data = Upstream(env, "data")
    return DataInputs(
        cluster_endpoint=data.require("clusterEndpoint"),
        reader_endpoint=data.require("readerEndpoint"),
        database_port=data.require_int("databasePort"),
        database_name=data.require("databaseName"),
        master_secret_arn=data.require("masterSecretArn"),
        application_secret_arns=data.require("applicationSecretArns").apply(lambda m: dict(m or {})),
        session_table_name=data.require("sessionTableName"),
        session_table_arn=data.require("sessionTableArn"),
        kms_key_arn=data.require("kmsKeyArn"),
    )
