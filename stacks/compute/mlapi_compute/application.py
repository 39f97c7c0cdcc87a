"""What the compute layer's API application gets: its settings, its secrets and its permissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from shared import contracts, policies
from shared.errors import PlatformError
from shared.service.roles import via
from shared.service.task import database_secrets

from .upstream import DataInputs

# Item-level access only: no Scan (sessions are read by key), no table administration.
SESSION_TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)


def injected_secrets(master_secret_arn: str, application_secrets: Mapping[str, str]) -> dict[str, str]:
    """Variable -> valueFrom: the RDS-managed master secret's JSON keys and each application secret."""
    secrets = database_secrets(master_secret_arn)
    for name, arn in sorted(application_secrets.items()):
        variable = contracts.secret_variable(name)
        if variable in secrets:
            raise PlatformError(
                f"application secret {name!r} (data layer output applicationSecretArns) would be injected as "
                f"{variable}, which another secret already uses; rename it in mlapi-data config."
            )
        secrets[variable] = arn
    return secrets


def secrets(data: DataInputs) -> pulumi.Output[dict[str, str]]:
    return pulumi.Output.all(data.master_secret_arn, data.application_secret_arns).apply(lambda v: injected_secrets(v[0], v[1]))


def secret_arns(data: DataInputs) -> pulumi.Output[list[str]]:
    """The ARNs of every secret the task definition injects (what the execution role may read)."""
    return pulumi.Output.all(data.master_secret_arn, data.application_secret_arns).apply(lambda v: sorted({v[0], *v[1].values()}))


def environment(data: DataInputs) -> pulumi.Output[dict[str, str]]:
    """The plain settings: where the database and the session table are."""
    return pulumi.Output.all(
        db_host=data.cluster_endpoint,
        db_reader_host=data.reader_endpoint,
        db_port=data.database_port,
        db_name=data.database_name,
        table=data.session_table_name,
    ).apply(
        lambda v: {
            "DB_HOST": v["db_host"],
            "DB_READER_HOST": v["db_reader_host"],
            "DB_PORT": str(v["db_port"]),
            "DB_NAME": v["db_name"],
            "SESSION_TABLE_NAME": v["table"],
        }
    )


def task_role_statements(data: DataInputs, region: str) -> list[Any]:
    return [
        policies.statement(
            "SessionTableItems",
            SESSION_TABLE_ACTIONS,
            [data.session_table_arn, pulumi.Output.concat(data.session_table_arn, "/index/*")],
        ),
        # The table is encrypted with the data layer's key; usable only through DynamoDB.
        policies.statement(
            "SessionTableEncryption",
            ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
            [data.kms_key_arn],
            Condition=via("dynamodb", region),
        ),
    ]
