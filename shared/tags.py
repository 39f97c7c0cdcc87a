"""Tags: one helper, applied as the AWS provider's default tags so no resource can miss them.

Order (as terraform-aws-modules merge them): ``Name`` first on each resource, then these
environment-wide tags, then any per-kind tags a component adds.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import APP
from .settings import EnvironmentSettings


def default_tags(env: EnvironmentSettings, layer_tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tags every AWS resource of ``env`` carries (through the provider's ``default_tags``): the
    platform's own, then the environment's extra ``tags``, then the layer's own (``layer_tags``,
    for example a compliance scope), which never replace the platform's."""
    platform = {
        "Environment": env.suffix,
        "Application": APP,
        "Layer": env.layer,
        "ManagedBy": "pulumi",
        "Repository": env.repository,
        "Team": env.team,
        "CostCenter": env.cost_center,
    }
    own = {key: value for key, value in (layer_tags or {}).items() if key not in platform}
    return {**platform, **env.extra_tags, **own}


def name_tag(name: str, **extra: str) -> dict[str, str]:
    """Per-resource tags: ``Name`` first, then any per-kind extras."""
    return {"Name": name, **extra}
