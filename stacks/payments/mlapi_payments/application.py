"""What the payments application gets: where the database is (plain settings) and its credentials
(injected by ECS from Secrets Manager at task start; never in config, code or state)."""

from __future__ import annotations

from typing import Any

import pulumi

from shared import policies
from shared.service.roles import via
from shared.service.task import database_secrets

from .upstream import DataInputs


def environment(data: DataInputs) -> pulumi.Output[dict[str, str]]:
    return pulumi.Output.all(
        host=data.cluster_endpoint, reader=data.reader_endpoint, port=data.database_port, name=data.database_name
    ).apply(lambda v: {"DB_HOST": v["host"], "DB_READER_HOST": v["reader"], "DB_PORT": str(v["port"]), "DB_NAME": v["name"]})


def secrets(data: DataInputs) -> pulumi.Output[dict[str, str]]:
    """DB_USERNAME and DB_PASSWORD from the data layer's RDS-managed master secret: RDS creates
    and rotates it, so a fresh environment starts with working credentials and no manual step
    (docs/payments.md, "Database credentials")."""
    return pulumi.Output.from_input(data.master_secret_arn).apply(database_secrets)


def task_role_statements(data: DataInputs, region: str) -> list[Any]:
    """RDS rotates the master password (every 7 days by default) while tasks keep the value ECS
    injected at start: the application may read the current one again when a new connection is
    refused (docs/payments.md, "Rotation"). Nothing else: it calls no other AWS API."""
    return [
        policies.statement("RereadDatabaseCredentials", ["secretsmanager:GetSecretValue"], [data.master_secret_arn]),
        policies.statement(
            "DecryptDatabaseCredentials", ["kms:Decrypt"], [data.kms_key_arn], Condition=via("secretsmanager", region)
        ),
    ]
