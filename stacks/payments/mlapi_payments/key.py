"""The payments layer's own KMS key: its log groups (containers, WAF), ECS Exec sessions and image registry.

PCI DSS scoping: the cardholder-data workload's logs are encrypted with a key only this layer's
stack manages, so access to them can be granted and revoked apart from the rest of the platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared import policies
from shared.aws_identity import AwsIdentity
from shared.naming import Namer
from shared.tags import name_tag


@dataclass(frozen=True)
class PaymentsKeyArgs:
    namer: Namer
    region: str
    identity: AwsIdentity
    # The log groups CloudWatch Logs may use the key for (the containers' and the WAF's).
    log_group_names: Sequence[str]
    deletion_window_days: int


class PaymentsKey(pulumi.ComponentResource):
    def __init__(self, name: str, args: PaymentsKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:payments:PaymentsKey", name, None, opts)
        n = args.namer
        # The key policy is part of the key, so the key's ARN (which the log group takes) exists
        # only once CloudWatch Logs may use it: creating the group earlier would fail.
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the payments log groups, ECS Exec sessions and image registry of {n.suffix}",
            enable_key_rotation=True,
            # AWS allows 7-30 days: short in an ephemeral environment, the longest in a protected one.
            deletion_window_in_days=args.deletion_window_days,
            policy=policies.kms_key_policy(
                args.identity,
                args.region,
                # kms:EncryptionContext:aws:logs:arn is a group's ARN: exactly these groups, no other.
                log_group_arn_pattern=[policies.log_group_arn(args.identity, args.region, g) for g in args.log_group_names],
            ),
            tags=name_tag(n.name("payments-key")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alias = aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{n.name('payments', kind='kms-alias')}",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"keyArn": self.key.arn})
