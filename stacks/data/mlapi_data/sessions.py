"""The DynamoDB session table: on-demand, TTL-expired items, point-in-time recovery, the layer's key."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag

PARTITION_KEY = "sessionId"
TTL_ATTRIBUTE = "ttl"


@dataclass(frozen=True)
class SessionTableArgs:
    namer: Namer
    kms_key_arn: pulumi.Input[str]
    # Deletion protection on (EnvironmentSettings.blocks_deletion).
    blocks_deletion: bool


class SessionTable(pulumi.ComponentResource):
    def __init__(self, name: str, args: SessionTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:data:SessionTable", name, None, opts)
        table_name = args.namer.name("sessions", kind="dynamodb")
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=table_name,
            # Sessions are spiky and idle between bursts: pay per request, nothing to provision.
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=PARTITION_KEY, type="S")],
            # DynamoDB deletes items whose `ttl` (epoch seconds) has passed, at no cost.
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=TTL_ATTRIBUTE, enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=args.kms_key_arn),
            deletion_protection_enabled=args.blocks_deletion,
            tags=name_tag(table_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"tableName": self.table.name})
