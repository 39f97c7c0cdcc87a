"""Environment-wide settings, read once per layer into a frozen object before any resource.

Where each comes from, first match wins:

* suffix: config ``environmentSuffix``, else ``ENVIRONMENT_SUFFIX``, else the stack name;
* region: config ``aws:region`` (never a literal in code), else ``AWS_REGION``/``AWS_DEFAULT_REGION``;
* team, costCenter, repository, pulumiOrg: config, else the environment variables ``TEAM``,
  ``COST_CENTER``, ``REPOSITORY``, ``PULUMI_ORG``, else a built-in value (``ENV_FALLBACKS``);
* protect and decommission: config only, else false (no environment variable: whether an
  environment is protected is a deliberate property, recorded in its config).

Environment-wide values can also be kept in ``environments/<suffix>.yaml``; the invoke tasks and
the offline plan apply that file to every layer's config.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from . import manifest
from .config import ConfigReader, Lookup, pulumi_lookup
from .errors import ConfigError
from .naming import Namer, validate_suffix

# Env-wide keys, their defaults and descriptions: every layer's Pulumi.yaml documents them.
ENVIRONMENT_KEYS: Mapping[str, tuple[object, str]] = {
    "environmentSuffix": (None, "Suffix in every resource name; defaults to ENVIRONMENT_SUFFIX, else the stack name."),
    "protect": (
        False,
        "Long-lived environment: deletion protection, final snapshots and longer retention windows. "
        "false (default) makes everything destroyable.",
    ),
    "decommission": (
        False,
        "Tear down a protected environment: with protect true, lifts deletion protection (Aurora, DynamoDB, ALB) and lets "
        "the registry and buckets be emptied, while the final snapshot, automated backups and the data key are kept. "
        "Only with protect true.",
    ),
    "layers": (
        [],
        "Layers this environment has, for example [network, data, payments]. Empty (default): every layer. "
        "A layer that a selected layer reads cannot be left out.",
    ),
    "tags": (
        {},
        "Extra tags on every resource of the environment: a map of key to value, within AWS's tag rules "
        "(keys 1-128 characters, values up to 256, not starting with aws:); the platform's own tags cannot be overridden.",
    ),
    # Empty in Pulumi.yaml on purpose: a default there would hide the environment variable.
    "team": ("", "Team tag on every resource. Empty: the environment variable TEAM, else 'platform'."),
    "costCenter": ("", "CostCenter tag on every resource. Empty: the environment variable COST_CENTER, else 'unassigned'."),
    "repository": ("", "Repository tag on every resource. Empty: the environment variable REPOSITORY, else 'mlapi-platform'."),
    "pulumiOrg": (
        "",
        "Organization part of StackReference names. Empty: the environment variable PULUMI_ORG, else 'organization' "
        "(a self-managed backend's); your org on Pulumi Cloud.",
    ),
}

# Settings that fall back to an environment variable, then to a built-in value, when config leaves them empty.
ENV_FALLBACKS: Mapping[str, tuple[str, str]] = {
    "team": ("TEAM", "platform"),
    "costCenter": ("COST_CENTER", "unassigned"),
    "repository": ("REPOSITORY", "mlapi-platform"),
    "pulumiOrg": ("PULUMI_ORG", "organization"),
}

_TAG_VALUE = r"[\w .:/=+\-@]{1,256}"
_TAG_RULE = "1 to 256 letters, digits, spaces and the characters _ . : / = + - @"
_TAG_KEY = r"(?!aws:)[\w .:/=+\-@]{1,128}"
_EXTRA_TAG_VALUE = r"[\w .:/=+\-@]{0,256}"
# AWS allows 50 tags per resource; the platform's own take 7 plus Name and a few per kind.
MAX_EXTRA_TAGS = 30
# The platform's own tag keys (shared/tags.py): an environment's extra tags may not replace them.
PLATFORM_TAG_KEYS = ("Name", "Environment", "Application", "Layer", "ManagedBy", "Repository", "Team", "CostCenter")


@functools.lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Every AWS region botocore knows, read from its bundled endpoint data (no network).

    Reads the JSON directly: importing botocore.session costs a fifth of a second per plan.
    """
    import gzip
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("botocore")
    assert spec is not None and spec.origin is not None, "botocore is a dependency (boto3)"
    data_dir = Path(spec.origin).parent / "data"
    plain, packed = data_dir / "endpoints.json", data_dir / "endpoints.json.gz"
    raw = plain.read_bytes() if plain.exists() else gzip.decompress(packed.read_bytes())
    regions: set[str] = set()
    for partition in json.loads(raw)["partitions"]:
        regions.update(partition.get("regions", {}))
    return frozenset(regions)


def validate_region(region: object, setting: str = "aws:region") -> str:
    if not isinstance(region, str) or region not in known_regions():
        # Name a few commercial regions (not the isolated or GovCloud partitions) as examples.
        commercial = sorted(r for r in known_regions() if re.fullmatch(r"(us|eu|ap)-(east|west|central|north)-\d", r))
        example = ", ".join(commercial[:6])
        raise ConfigError(
            setting,
            region,
            f"an AWS region code such as {example}",
            hint="Set it with `pulumi config set aws:region <region>` or `--region` on the invoke tasks.",
        )
    return region


@dataclass(frozen=True)
class EnvironmentSettings:
    """What every layer of one environment shares."""

    layer: str
    project: str
    stack: str
    suffix: str
    region: str
    protect: bool
    # Only ever true together with ``protect`` (load refuses it otherwise).
    decommission: bool
    team: str
    cost_center: str
    repository: str
    pulumi_org: str
    # Names of the layers this environment has (manifest order); every layer unless `layers` selects some.
    layers: tuple[str, ...] = ()
    # The environment's extra tags (`tags`), applied after the platform's own on every resource.
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    def has_layer(self, name: str) -> bool:
        """Whether the environment includes layer ``name`` (every layer when no selection is made)."""
        return not self.layers or name in self.layers

    @property
    def blocks_deletion(self) -> bool:
        """Whether AWS-side guards refuse a delete (deletion protection, non-empty registries and
        buckets): a protected environment, until it is being decommissioned."""
        return self.protect and not self.decommission

    @property
    def keeps_data(self) -> bool:
        """Whether deleting keeps the data (final snapshot, automated backups, the data key, long key
        deletion windows): every protected environment, decommissioning or not."""
        return self.protect

    @property
    def key_deletion_window_days(self) -> int:
        """Days a deleted KMS key waits before it is gone (AWS allows 7-30): short where nothing is
        kept, so a torn-down environment's keys go soon; the longest where keys protect kept data."""
        return 30 if self.keeps_data else 7

    @property
    def namer(self) -> Namer:
        return Namer(self.suffix)

    def name(self, resource: str, *, kind: str = "default") -> str:
        return self.namer.name(resource, kind=kind)

    @classmethod
    def load(
        cls,
        layer: str,
        reader: ConfigReader | None = None,
        *,
        project: str | None = None,
        stack: str | None = None,
        aws_lookup: Lookup | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> EnvironmentSettings:
        """Read and validate the environment settings of ``layer`` (defaults: the running program)."""
        environ = os.environ if environ is None else environ
        project = project or pulumi.get_project()
        stack = stack or pulumi.get_stack()
        reader = reader or ConfigReader(project)
        aws_lookup = aws_lookup or pulumi_lookup("aws")

        def configured(key: str, pattern: str, allowed: str) -> str:
            """Config, else the key's environment variable, else its built-in value; validated either way."""
            value = reader.string(key, None, pattern=pattern, allowed=allowed)
            if value is not None:
                return value
            var, builtin = ENV_FALLBACKS[key]
            from_environment = environ.get(var, "").strip()
            if from_environment and not re.fullmatch(pattern, from_environment):
                raise ConfigError(var, from_environment, allowed, hint=f"Or set {reader.setting(key)} in config.")
            return from_environment or builtin

        suffix_raw = reader.raw("environmentSuffix")
        if suffix_raw is not None:
            suffix = validate_suffix(str(suffix_raw).strip(), reader.setting("environmentSuffix"))
        elif environ.get("ENVIRONMENT_SUFFIX"):
            suffix = validate_suffix(environ["ENVIRONMENT_SUFFIX"], "ENVIRONMENT_SUFFIX")
        else:
            suffix = validate_suffix(stack, "stack name (used as environmentSuffix)")

        region_raw = aws_lookup("region") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        region = validate_region(region_raw)

        protect = reader.boolean("protect", False)
        decommission = reader.boolean("decommission", False)
        if decommission and not protect:
            raise ConfigError(
                reader.setting("decommission"),
                "true",
                "true only in a protected environment (protect: true), where it lifts deletion protection for "
                "the teardown; with protect false everything is destroyable already, so leave it false (the default)",
                hint="Remove `decommission` from environments/<env>.yaml and the stack files, or set `protect: true` as well.",
            )

        selected = tuple(
            layer.name for layer in manifest.select(reader.string_list("layers", ()), setting=reader.setting("layers"))
        )
        extra_tags = _extra_tags(reader)

        org = configured(
            "pulumiOrg", r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", "a Pulumi organization name (letters, digits, '-', '_' and '.')"
        )
        return cls(
            layer=layer,
            project=project,
            stack=stack,
            suffix=suffix,
            region=region,
            protect=protect,
            decommission=decommission,
            team=configured("team", _TAG_VALUE, _TAG_RULE),
            cost_center=configured("costCenter", _TAG_VALUE, _TAG_RULE),
            repository=configured("repository", _TAG_VALUE, _TAG_RULE),
            pulumi_org=org,
            layers=selected,
            extra_tags=extra_tags,
        )


def _extra_tags(reader: ConfigReader) -> dict[str, str]:
    """The environment's `tags` map, checked against AWS's tag rules and the platform's own keys."""
    import json

    raw = reader.raw("tags", {})
    if raw is None:
        return {}
    allowed = (
        f"a map of at most {MAX_EXTRA_TAGS} tags, keys 1-128 and values 0-256 letters, digits, spaces and _ . : / = + - @, "
        f"keys not starting with aws: and none of the platform's own ({', '.join(PLATFORM_TAG_KEYS)})"
    )
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise reader.fail("tags", raw, allowed) from None
    if not isinstance(raw, dict) or len(raw) > MAX_EXTRA_TAGS:
        raise reader.fail("tags", raw, allowed)
    tags: dict[str, str] = {}
    for key, value in raw.items():
        key, text = str(key), "" if value is None else str(value)
        if not re.fullmatch(_TAG_KEY, key) or key in PLATFORM_TAG_KEYS:
            raise reader.fail("tags", key, allowed)
        if isinstance(value, (dict, list)) or not re.fullmatch(_EXTRA_TAG_VALUE, text):
            raise reader.fail(f"tags.{key}", value, allowed)
        tags[key] = text
    return tags
