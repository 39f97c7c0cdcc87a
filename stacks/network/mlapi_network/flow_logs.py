"""VPC flow logs into a KMS-encrypted CloudWatch log group."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared import policies
from shared.aws_identity import AwsIdentity
from shared.naming import Namer
from shared.tags import name_tag


@dataclass(frozen=True)
class FlowLogsArgs:
    namer: Namer
    region: str
    identity: AwsIdentity
    vpc_id: pulumi.Input[str]
    retention_days: int
    key_deletion_window_days: int


class FlowLogs(pulumi.ComponentResource):
    def __init__(self, name: str, args: FlowLogsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:network:FlowLogs", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        log_group_name = n.log_group("vpc-flow-logs")
        log_group_arn = policies.log_group_arn(args.identity, args.region, log_group_name)

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the VPC flow logs of {n.suffix}",
            enable_key_rotation=True,
            deletion_window_in_days=args.key_deletion_window_days,
            policy=policies.kms_key_policy(args.identity, args.region, log_group_arn_pattern=log_group_arn),
            tags=name_tag(n.name("flow-logs-key")),
            opts=child,
        )
        alias = aws.kms.Alias(f"{name}-key-alias", name=f"alias/{n.name('flow-logs')}", target_key_id=self.key.key_id, opts=child)

        # KMS is eventually consistent: CloudWatch Logs refuses a key created seconds earlier ("The
        # specified KMS key does not exist or is not allowed to be used"). The provider retries the
        # alias until KMS knows the key, so waiting for the alias waits out the propagation.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-log-group",
            name=log_group_name,
            retention_in_days=args.retention_days,
            kms_key_id=self.key.arn,
            tags=name_tag(log_group_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[alias]),
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=n.name("flow-logs", kind="iam-role"),
            assume_role_policy=policies.assume_role_policy("vpc-flow-logs.amazonaws.com", args.identity),
            tags=name_tag(n.name("flow-logs")),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=policies.document(
                policies.statement(
                    "WriteFlowLogs",
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    [self.log_group.arn, pulumi.Output.concat(self.log_group.arn, ":*")],
                )
            ),
            opts=child,
        )
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=args.vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.log_group.arn,
            iam_role_arn=self.role.arn,
            max_aggregation_interval=60,
            tags=name_tag(n.name("flow-log")),
            # Without its policy the role cannot write: the flow log would start in "access error".
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.register_outputs({"logGroupName": self.log_group.name})
