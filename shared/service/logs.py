"""The service containers' log group, KMS-encrypted, with a fixed retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..naming import Namer
from ..tags import name_tag
from . import component_type


@dataclass(frozen=True)
class ServiceLogsArgs:
    namer: Namer
    kms_key_arn: pulumi.Input[str]
    retention_days: int
    # The group is /mlapi/<suffix>/<part>.
    name_part: str = "api"
    # What must exist first: a key policy that lets CloudWatch Logs use kms_key_arn (Logs checks
    # it when the group is created, and refuses the key otherwise).
    depends_on: Sequence[pulumi.Resource] = ()


class ServiceLogs(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceLogsArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "ServiceLogs"), name, None, opts)
        # Under /mlapi/<suffix>/: the key policies let CloudWatch Logs use their key for exactly
        # that prefix, so the group must exist before any task writes (no logs:CreateLogGroup).
        group_name = args.namer.log_group(args.name_part)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-log-group",
            name=group_name,
            retention_in_days=args.retention_days,
            kms_key_id=args.kms_key_arn,
            tags=name_tag(group_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"logGroupName": self.log_group.name})
