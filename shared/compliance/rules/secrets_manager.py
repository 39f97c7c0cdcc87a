"""Secrets Manager: secrets rotate."""

from __future__ import annotations

from collections.abc import Iterator

from ...aws_types import (
    SECRET_ROTATION,
    SECRETS_MANAGER_SECRET,
)
from ..model import (
    Environment,
    Finding,
    View,
)
from ..registry import Scope, rule
from ._common import unreferenced


@rule(
    "secret-rotation",
    title="Secrets Manager secrets rotate automatically",
    controls=("FSBP SecretsManager.1",),
    fix="Add an aws.secretsmanager.SecretRotation for the secret (or let RDS manage the master secret: "
    "manage_master_user_password=True rotates it without a SecretRotation).",
    scope=Scope.STACK,
    pack_note="Judged within one stack: the rotation is expected next to its secret.",
)
def secret_rotation(view: View, env: Environment) -> Iterator[Finding]:
    yield from unreferenced(
        view, SECRETS_MANAGER_SECRET, by=SECRET_ROTATION, through="secretId", message="no SecretRotation rotates this secret"
    )
