"""The flat outputs file (``cfn-outputs/flat-outputs.json``) that integration tests and CI read.

Layout: one JSON object. Every output appears as ``<layer>.<name>`` (always unambiguous) and, for
the integration tests written against a single stack, under its plain ``<name>`` too, unless two
layers export that name with different values: then the plain name is left out (and reported),
never silently taken from one of them. Values keep their JSON types (lists stay lists).

Integration tests written from the seeds read snake_case names, so every plain name is also
written in snake_case (``albDnsName`` -> ``alb_dns_name``), and :data:`SEED_ALIASES` adds the
names they read that are not a snake_case spelling of ours (``rds_cluster_endpoint``, ...). Both
follow the plain-name rule: left out (and reported) when their sources disagree.

Secrets: outputs are read without ``--show-secrets``, so the CLI already prints secret values as
``"[secret]"``; any value still carrying Pulumi's secret signature is replaced the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..manifest import REPO_ROOT

DEFAULT_PATH = REPO_ROOT / "cfn-outputs" / "flat-outputs.json"
SECRET = "[secret]"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def redact(value: Any) -> Any:
    """``value`` with everything Pulumi marks secret replaced by ``"[secret]"``."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return SECRET
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


# Names the seeds' integration tests and docs read -> the (layer, output) pairs that feed them,
# in preference order. Only the layers listed are sources: data's ``clusterArn`` (Aurora) must
# never become ``ecs_cluster_arn``.
SEED_ALIASES: dict[str, tuple[tuple[str, str], ...]] = {
    "cloudfront_distribution_url": (("edge", "distributionUrl"),),
    "cloudfront_domain_name": (("edge", "distributionDomainName"),),
    "rds_cluster_endpoint": (("data", "clusterEndpoint"),),
    "dynamodb_table_name": (("data", "sessionTableName"),),
    "db_secret_arn": (("data", "masterSecretArn"), ("payments", "databaseSecretArn")),
    "load_balancer_dns": (("compute", "albDnsName"), ("payments", "albDnsName")),
    "ecs_cluster_name": (("compute", "clusterName"), ("payments", "clusterName")),
    "ecs_cluster_arn": (("payments", "clusterArn"),),
    "ecs_service_name": (("compute", "serviceName"), ("payments", "serviceName")),
    "ecr_repository_url": (("compute", "ecrRepositoryUrl"), ("payments", "ecrRepositoryUrl")),
    "ecr_repository_uri": (("compute", "ecrRepositoryUrl"), ("payments", "ecrRepositoryUrl")),
}


def snake_case(name: str) -> str:
    """``albDnsName`` -> ``alb_dns_name``; ``vpcId`` -> ``vpc_id``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass
class Flat:
    values: dict[str, Any] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)


def flatten(by_layer: Mapping[str, Mapping[str, Any]]) -> Flat:
    """``{layer: {name: value}}`` (in manifest order) -> the flat mapping described above."""
    flat = Flat()
    exporters: dict[str, list[str]] = {}
    for layer, outputs in by_layer.items():
        for name, value in outputs.items():
            flat.values[f"{layer}.{name}"] = redact(value)
            exporters.setdefault(name, []).append(layer)
    for name, layers in exporters.items():
        distinct = {json.dumps(flat.values[f"{lyr}.{name}"], sort_keys=True) for lyr in layers}
        if len(distinct) == 1:
            flat.values[name] = flat.values[f"{layers[0]}.{name}"]
        else:
            flat.ambiguous[name] = [f"{lyr}.{name}" for lyr in layers]
    aliases: dict[str, tuple[tuple[str, str], ...]] = {
        snake_case(name): tuple((lyr, name) for lyr in layers) for name, layers in exporters.items()
    }
    aliases.update(SEED_ALIASES)
    for alias, sources in aliases.items():
        if alias in exporters:  # a name that is already snake_case (``protected``) or is exported as is
            continue
        keys = [f"{lyr}.{name}" for lyr, name in sources if f"{lyr}.{name}" in flat.values]
        distinct = {json.dumps(flat.values[key], sort_keys=True) for key in keys}
        if len(distinct) == 1:
            flat.values[alias] = flat.values[keys[0]]
        elif len(distinct) > 1:
            flat.ambiguous[alias] = keys
    return flat


def read(path: Path) -> dict[str, Any]:
    """The flat outputs file at ``path``; PlatformError (with the fix) when it is missing or broken."""
    from ..errors import PlatformError

    if not path.is_file():
        raise PlatformError(
            f"no outputs file at {path}: write it with `invoke outputs --env <env>` (needs the Pulumi CLI "
            "and the stacks' backend) or pass --outputs FILE"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlatformError(f"{path} is not a readable JSON outputs file ({exc}); write it again with `invoke outputs`") from None
    if not isinstance(data, dict):
        raise PlatformError(f"{path} must hold one JSON object of outputs, as `invoke outputs` writes it")
    return data


def layer_outputs(flat: Mapping[str, Any], layer: str) -> dict[str, Any]:
    """``{name: value}`` of ``layer`` from its ``<layer>.<name>`` keys."""
    prefix = f"{layer}."
    return {key[len(prefix) :]: value for key, value in flat.items() if key.startswith(prefix)}


_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:")


def region_of(flat: Mapping[str, Any]) -> str | None:
    """The environment's region, read from the regional ARNs in the outputs (CloudFront's
    certificate and web ACL live in us-east-1 whatever the region, so the edge layer is asked last)."""
    ordered = sorted(flat.items(), key=lambda item: item[0].startswith("edge."))
    for key, value in ordered:
        if key.startswith("edge.") and key != "edge.regionalWebAclArn":
            continue
        match = _ARN_REGION.match(value) if isinstance(value, str) else None
        if match:
            return match.group(1)
    return None


def write(path: Path, flat: Flat) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(flat.values, indent=2, sort_keys=True) + "\n")
