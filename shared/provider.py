"""The explicit AWS provider each layer creates: region from settings, default tags from shared/."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from .settings import EnvironmentSettings
from .tags import default_tags


def aws_provider(
    env: EnvironmentSettings,
    *,
    region: str | None = None,
    name: str = "aws",
    layer_tags: Mapping[str, str] | None = None,
) -> aws.Provider:
    """An AWS provider for ``env`` (in ``region`` if given, for example us-east-1 for CloudFront),
    tagging every resource with :func:`shared.tags.default_tags` (plus ``layer_tags``)."""
    return aws.Provider(
        name,
        region=region or env.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(env, layer_tags)),
    )


def with_provider(provider: aws.Provider, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """Resource options that route a component's children to ``provider``."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers={"aws": provider}))
