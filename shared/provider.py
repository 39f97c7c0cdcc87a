"""The explicit AWS provider each layer creates: region from settings, default tags from shared/."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .settings import EnvironmentSettings
from .tags import default_tags


def aws_provider(env: EnvironmentSettings, *, region: str | None = None, name: str = "aws") -> aws.Provider:
    """An AWS provider for ``env`` (in ``region`` if given, for example us-east-1 for CloudFront)."""
    return aws.Provider(
        name,
        region=region or env.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(env)),
    )


def with_provider(provider: aws.Provider, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """Resource options that route a component's children to ``provider``."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers={"aws": provider}))
