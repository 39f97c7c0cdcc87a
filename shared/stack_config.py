"""The config a layer's stack gets, assembled from the same files a real run uses.

Precedence, lowest first: ``Pulumi.yaml`` defaults < ``environments/<env>.yaml`` (environment-wide
keys, applied to every layer) < ``stacks/<layer>/Pulumi.<env>.yaml`` < command-line flags.
Values are turned into strings exactly as the Pulumi CLI hands them to a program.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import manifest
from .errors import ConfigError, PlatformError
from .manifest import REPO_ROOT, Layer
from .settings import ENVIRONMENT_KEYS

ENVIRONMENTS_DIR = REPO_ROOT / "environments"


def to_config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise PlatformError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PlatformError(f"{path} must be a YAML mapping")
    return data


def project_config_schema(layer: Layer) -> dict[str, dict[str, Any]]:
    """The ``config:`` block of the layer's Pulumi.yaml: key -> {type, default, description}."""
    data = _load_yaml(layer.directory / "Pulumi.yaml")
    block = data.get("config") or {}
    return {key: (spec if isinstance(spec, dict) else {"default": spec}) for key, spec in block.items()}


def environment_file(env: str) -> Path | None:
    path = ENVIRONMENTS_DIR / f"{env}.yaml"
    return path if path.exists() else None


def environment_region(env: str) -> str | None:
    """The ``aws:region`` of ``environments/<env>.yaml``, if the file sets one (a broken file is
    reported by :func:`assemble`)."""
    path = environment_file(env)
    if path is None:
        return None
    try:
        region = (yaml.safe_load(path.read_text()) or {}).get("aws:region")
    except (yaml.YAMLError, AttributeError):
        return None
    return str(region) if region else None


def environment_layers(env: str) -> tuple[Layer, ...]:
    """The layers environment ``env`` has, in dependency order: the ``layers:`` of
    ``environments/<env>.yaml``, else every layer of the manifest.

    The one reader of that choice for every task (offline plan, compliance check, deploys and
    pre-flight), so they never disagree. Raises ConfigError for a value that is not a list of
    layer names, or a selection that drops a layer a selected layer reads.
    """
    path = environment_file(env)
    names: object = None
    if path is not None:
        names = _load_yaml(path).get("layers")
    setting = f"{path.name}: layers" if path is not None else "layers"
    if names is None or names == []:
        return tuple(manifest.ordered(manifest.LAYERS))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(setting, names, "a list of layer names, for example [network, data, compute]")
    return tuple(manifest.ordered(manifest.select(names, setting=setting, layers=manifest.LAYERS)))


@dataclass(frozen=True)
class StackConfig:
    values: dict[str, str]
    secret_keys: tuple[str, ...]
    sources: tuple[str, ...]


def assemble(layer: Layer, env: str, *, overrides: Mapping[str, Any] | None = None) -> StackConfig:
    """All config values for ``layer``'s stack ``env``, namespaced (``mlapi-network:vpcCidr``)."""
    schema = project_config_schema(layer)
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    sources: list[str] = [f"{layer.directory.name}/Pulumi.yaml"]

    def qualify(key: str) -> str:
        return key if ":" in key else f"{layer.project}:{key}"

    for key, spec in schema.items():
        if "default" in spec and spec["default"] is not None and spec["default"] != "":
            values[qualify(key)] = to_config_string(spec["default"])

    env_path = environment_file(env)
    if env_path is not None:
        sources.append(str(env_path.relative_to(REPO_ROOT)))
        for key, value in _load_yaml(env_path).items():
            if key == "aws:region":
                values["aws:region"] = to_config_string(value)
                continue
            if key not in ENVIRONMENT_KEYS:
                raise ConfigError(
                    f"{env_path.name}: {key}",
                    value,
                    "environment files hold only environment-wide keys: " + ", ".join(["aws:region", *ENVIRONMENT_KEYS]),
                )
            values[qualify(key)] = to_config_string(value)

    stack_path = layer.directory / f"Pulumi.{env}.yaml"
    if stack_path.exists():
        sources.append(str(stack_path.relative_to(REPO_ROOT)))
        for key, value in (_load_yaml(stack_path).get("config") or {}).items():
            full = qualify(key)
            namespace, _, bare = full.partition(":")
            if namespace == layer.project and bare not in schema:
                raise ConfigError(
                    f"{stack_path.name}: {full}",
                    value,
                    f"not a setting of the {layer.name} layer; its settings are " + ", ".join(sorted(schema)),
                )
            if isinstance(value, dict) and "secure" in value:
                # Encrypted with the stack's secrets provider: it cannot be read offline.
                values[full] = "[secret]"
                secret_keys.append(full)
            else:
                values[full] = to_config_string(value)

    for key, value in (overrides or {}).items():
        if value is not None:
            values[qualify(key)] = to_config_string(value)
    return StackConfig(values=values, secret_keys=tuple(secret_keys), sources=tuple(sources))
