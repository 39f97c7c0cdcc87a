"""The service containers' log group, encrypted with the data layer's key."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag


@dataclass(frozen=True)
class ServiceLogsArgs:
    namer: Namer
    kms_key_arn: pulumi.Input[str]
    retention_days: int


class ServiceLogs(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceLogsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:compute:ServiceLogs", name, None, opts)
        # Under /mlapi/<suffix>/: the data layer's key policy lets CloudWatch Logs use the key for
        # exactly that prefix, so the group must exist before any task writes (no logs:CreateLogGroup).
        group_name = args.namer.log_group("api")
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-log-group",
            name=group_name,
            retention_in_days=args.retention_days,
            kms_key_id=args.kms_key_arn,
            tags=name_tag(group_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"logGroupName": self.log_group.name})
