"""The boto3 session the post-deploy tasks (release, verify) use: region and credentials checked first."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import PlatformError
from ..stack_config import environment_region
from .outputs import region_of


def resolve_region(env: str, flat: Mapping[str, Any], region: str | None = None) -> str:
    """``--region``, else the environment file's ``aws:region``, else the region in the outputs'
    ARNs, else AWS_REGION / AWS_DEFAULT_REGION."""
    found = (
        region
        or environment_region(env)
        or region_of(flat)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )
    if not found:
        raise PlatformError(
            f"cannot tell the region of environment {env}: set aws:region in environments/{env}.yaml, pass --region, "
            "or set AWS_REGION"
        )
    return found


def session_for(env: str, flat: Mapping[str, Any], region: str | None = None) -> Any:
    """A boto3 Session in the environment's region; PlatformError when no credentials are configured."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    fix = (
        "configure them for the environment's account (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
        "or an SSO/role session) and run the task again"
    )
    session = boto3.Session(region_name=resolve_region(env, flat, region))
    if session.get_credentials() is None:
        raise PlatformError(f"no AWS credentials: {fix}")
    # Credentials that exist but are expired or revoked would otherwise surface as one AccessDenied
    # per check (verify: exit 1, as if the environment were broken) or mid-release.
    try:
        session.client("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        raise PlatformError(f"the AWS credentials do not work ({error}): {fix}") from None
    return session
