"""Encryption at rest and keys: KMS keys, and a customer-managed key on every store that holds data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...aws_types import (
    DYNAMODB_TABLE,
    KMS_KEY,
    KMS_KEY_POLICY,
    LOG_GROUP,
    RDS_CLUSTER,
    RDS_INSTANCE,
    SECRETS_MANAGER_SECRET,
)
from ..model import (
    Environment,
    Resource,
    first,
    get,
    text,
    truthy,
)
from ..registry import rule
from ._common import limits_to_accounts, public_statements

# Condition keys that pin a '*' principal of a key policy to named accounts.
KMS_CONDITION_KEYS = {"kms:calleraccount", "aws:principalaccount", "aws:sourceaccount", "aws:sourceowner"}


def _cmk_problem(value: Any, what: str) -> str | None:
    """Why ``value`` (a kmsKeyId/kmsKeyArn input) is not a customer-managed key, or None."""
    key = text(value)
    if not key:
        return f"{what} is not encrypted with a customer-managed KMS key (no key set: AWS-owned/managed key)"
    if "alias/aws/" in key:
        return f"{what} uses the AWS-managed key {key}, not a customer-managed key"
    return None


@rule(
    "kms-key-rotation",
    title="Customer-managed KMS keys rotate automatically",
    controls=("FSBP KMS.4",),
    fix="Set enable_key_rotation=True on the aws.kms.Key.",
    types=(KMS_KEY,),
)
def kms_key_rotation(res: Resource, env: Environment) -> Iterator[str]:
    spec = text(res.get("customerMasterKeySpec")) or text(res.get("keySpec")) or "SYMMETRIC_DEFAULT"
    # AWS rotates only symmetric encryption keys; asymmetric and HMAC keys cannot rotate.
    if spec == "SYMMETRIC_DEFAULT" and not truthy(res.get("enableKeyRotation")):
        yield "key rotation is off (enableKeyRotation is not true)"


@rule(
    "kms-key-not-public",
    title="KMS key policies grant '*' principals only within this account",
    controls=("FSBP KMS.5",),
    fix="Give the statement a Condition on kms:CallerAccount (or aws:PrincipalAccount) = this account, "
    "or name the principals (shared.policies.kms_key_policy does both).",
    types=(KMS_KEY, KMS_KEY_POLICY),
)
def kms_key_not_public(res: Resource, env: Environment) -> Iterator[str]:
    for statement in public_statements(res.get("policy")):
        if not limits_to_accounts(statement.get("Condition"), KMS_CONDITION_KEYS):
            yield (
                f"statement {statement.get('Sid', '(no Sid)')!r} allows Principal '*' without a StringEquals "
                "condition naming the account(s) (kms:CallerAccount, aws:PrincipalAccount, ...)"
            )


@rule(
    "aurora-encrypted-cmk",
    title="Aurora/RDS storage is encrypted with a customer-managed KMS key",
    controls=("FSBP RDS.27", "FSBP RDS.3", "FSBP RDS.4"),
    fix="Set storage_encrypted=True and kms_key_id=<the data layer's key ARN> on the cluster (snapshots inherit it).",
    types=(RDS_CLUSTER, RDS_INSTANCE),
)
def aurora_encrypted(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(res.get("storageEncrypted")):
        yield "storage is not encrypted (storageEncrypted is not true)"
    problem = _cmk_problem(res.get("kmsKeyId"), "storage")
    if problem:
        yield problem


@rule(
    "dynamodb-encrypted-cmk",
    title="DynamoDB tables are encrypted with a customer-managed KMS key",
    controls=("Config dynamodb-table-encrypted-kms", "CKV_AWS_119"),
    fix="Set server_side_encryption={enabled: True, kms_key_arn: <key ARN>} on the table.",
    types=(DYNAMODB_TABLE,),
)
def dynamodb_encrypted(res: Resource, env: Environment) -> Iterator[str]:
    sse = first(res.get("serverSideEncryption")) or {}
    if not truthy(get(sse, "enabled")):
        yield "server-side encryption with a KMS key is not enabled (the AWS-owned key is used)"
        return
    problem = _cmk_problem(get(sse, "kmsKeyArn"), "the table")
    if problem:
        yield problem


@rule(
    "secret-encrypted-cmk",
    title="Secrets (including RDS-managed master secrets) are encrypted with a customer-managed KMS key",
    controls=("Config secretsmanager-using-cmk", "CKV_AWS_149"),
    fix="Set kms_key_id on the secret; on an RDS cluster set master_user_secret_kms_key_id.",
    types=(SECRETS_MANAGER_SECRET, RDS_CLUSTER, RDS_INSTANCE),
)
def secret_encrypted(res: Resource, env: Environment) -> Iterator[str]:
    if res.type == SECRETS_MANAGER_SECRET:
        problem = _cmk_problem(res.get("kmsKeyId"), "the secret")
    elif truthy(res.get("manageMasterUserPassword")):
        problem = _cmk_problem(res.get("masterUserSecretKmsKeyId"), "the RDS-managed master user secret")
    else:
        problem = None
    if problem:
        yield problem


@rule(
    "log-group-encrypted-cmk",
    title="CloudWatch log groups are encrypted with a customer-managed KMS key",
    controls=("Config cloudwatch-log-group-encrypted", "CKV_AWS_158"),
    fix="Set kms_key_id=<key ARN> on the log group; the key policy must let logs.<region>.amazonaws.com use it "
    "(shared.policies.kms_key_policy(log_group_arn_pattern=...)).",
    types=(LOG_GROUP,),
)
def log_group_encrypted(res: Resource, env: Environment) -> Iterator[str]:
    problem = _cmk_problem(res.get("kmsKeyId"), "the log group")
    if problem:
        yield problem


@rule(
    "log-group-retention",
    title="CloudWatch log groups have a retention period",
    # Security Hub CloudWatch.16 asks for at least a year (its default); this project keeps 30 days
    # by default (retention is configurable), so the rule enforces what Checkov CKV_AWS_66 does:
    # a retention period is set, logs never pile up forever.
    controls=("CKV_AWS_66",),
    fix="Set retention_in_days (a CloudWatch Logs retention value) on the log group.",
    types=(LOG_GROUP,),
)
def log_group_retention(res: Resource, env: Environment) -> Iterator[str]:
    days = res.get("retentionInDays")
    if not isinstance(days, (int, float)) or days <= 0:
        yield "no retention period: logs are kept (and billed) forever"
