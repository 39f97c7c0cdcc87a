"""IAM and KMS policy documents built from Outputs (never inline JSON strings, never ``Resource: "*"``
where an ARN is known)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pulumi

from .aws_identity import AwsIdentity


def document(*statements: Any) -> pulumi.Output[str]:
    """A policy document JSON string from statements that may contain Outputs."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def statement(sid: str, actions: Sequence[str], resources: Iterable[Any], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources), **extra}


def assume_role_policy(service: str, identity: AwsIdentity) -> pulumi.Output[str]:
    """Trust policy for an AWS service principal, limited to this account (confused-deputy guard)."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": identity.account_id}},
        }
    )


def kms_key_policy(
    identity: AwsIdentity,
    region: str,
    *,
    log_group_arn_pattern: Any = None,
    services: Sequence[str] = (),
) -> pulumi.Output[str]:
    """Key policy: the account administers the key (the AWS-recommended root statement, which makes
    IAM policies effective); CloudWatch Logs may use it for this account's log groups matching
    ``log_group_arn_pattern`` (one ARN pattern, or a list of them: ``ArnLike`` matches any); each
    of ``services`` (for example ``rds``, ``secretsmanager``, ``dynamodb``) may use it only when
    called through that service in this account and region.

    ``Resource: "*"`` in a key policy means "this key": it is the only form KMS accepts.
    """
    root = pulumi.Output.concat("arn:", identity.partition, ":iam::", identity.account_id, ":root")
    statements: list[Any] = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if log_group_arn_pattern is not None:
        statements.append(
            {
                "Sid": "CloudWatchLogsUseKey",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arn_pattern}},
            }
        )
    if services:
        statements.append(
            {
                "Sid": "ServicesUseKeyForThisAccount",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:CreateGrant",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": identity.account_id,
                        "kms:ViaService": [f"{svc}.{region}.amazonaws.com" for svc in services],
                    }
                },
            }
        )
    return document(*statements)


def log_group_arn(identity: AwsIdentity, region: str, name: Any) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:", identity.partition, ":logs:", region, ":", identity.account_id, ":log-group:", name)
