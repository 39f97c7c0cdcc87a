"""The layer's customer-managed KMS key: every store, secret and log group of the data layer (and
the compute layer's log group under /mlapi/<suffix>/) is encrypted with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared import policies
from shared.aws_identity import AwsIdentity
from shared.naming import Namer
from shared.tags import name_tag

# Services that encrypt with the key on a caller's behalf: Aurora storage (rds), the RDS-managed
# master secret (secretsmanager) and the session table (dynamodb). CloudWatch Logs has its own
# statement, limited to this environment's log groups.
KEY_SERVICES = ("rds", "secretsmanager", "dynamodb")


@dataclass(frozen=True)
class DataKeyArgs:
    namer: Namer
    region: str
    identity: AwsIdentity
    # Names of the log groups CloudWatch Logs may encrypt with the key (``*`` wildcards allowed).
    log_group_names: Sequence[pulumi.Input[str]]
    deletion_window_days: int
    # Leave the key in AWS when the stack is destroyed (EnvironmentSettings.keeps_data).
    retain_on_delete: bool = False


class DataKey(pulumi.ComponentResource):
    def __init__(self, name: str, args: DataKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:data:DataKey", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        log_group_patterns = [policies.log_group_arn(args.identity, args.region, group) for group in args.log_group_names]
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the ML API data stores, secrets and log groups of {n.suffix}",
            enable_key_rotation=True,
            # AWS allows 7-30 days: short in an ephemeral environment so a torn-down key goes soon,
            # the longest in a protected one so a mistaken deletion can be cancelled.
            deletion_window_in_days=args.deletion_window_days,
            policy=policies.kms_key_policy(
                args.identity, args.region, log_group_arn_pattern=log_group_patterns, services=KEY_SERVICES
            ),
            tags=name_tag(n.name("data-key")),
            # The final snapshot, the retained automated backups and DynamoDB's backup of the deleted
            # session table are encrypted with this key and outlive the stack: scheduling its deletion
            # with the stack's would make them unreadable. The alias goes, so a re-created
            # environment can take its name.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )
        self.alias = aws.kms.Alias(
            f"{name}-alias", name=f"alias/{n.name('data', kind='kms-alias')}", target_key_id=self.key.key_id, opts=child
        )
        self.register_outputs({"keyArn": self.key.arn})
