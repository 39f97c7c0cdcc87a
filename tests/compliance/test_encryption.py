"""Encryption rules: details beyond the shared cases."""

from __future__ import annotations

import pytest

from shared.aws_types import (
    KMS_KEY,
)

from .support import (
    ACCOUNT,
    fragment,
    policy_json,
    res,
    violations,
)


def test_asymmetric_keys_cannot_rotate_and_are_not_flagged():
    key = res(KMS_KEY, "k", {"keySpec": "RSA_2048", "customerMasterKeySpec": "RSA_2048"})
    assert violations("kms-key-rotation", fragment(key)) == []


@pytest.mark.parametrize(
    "condition",
    [
        {"StringNotEquals": {"kms:CallerAccount": ACCOUNT}},  # every *other* account
        {"StringEquals": {"kms:CallerAccount": "*"}},
        {"StringLike": {"kms:CallerAccount": "1111*"}},
        {"Null": {"kms:CallerAccount": "false"}},
        {"StringEqualsIfExists": {"kms:CallerAccount": ACCOUNT}},  # passes when the key is absent
        {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},  # an organization is not this account
    ],
    ids=["not-equals", "wildcard", "like", "null", "if-exists", "org"],
)
def test_a_public_key_statement_must_pin_the_account_with_an_exact_match(condition):
    key = res(
        KMS_KEY,
        "k",
        {
            "enableKeyRotation": True,
            "policy": policy_json(
                {
                    "Sid": "S",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": condition,
                }
            ),
        },
    )
    assert violations("kms-key-not-public", fragment(key))
