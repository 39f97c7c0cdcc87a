"""The config a layer's stack gets, assembled from the same files a real run uses.

Precedence, lowest first: ``Pulumi.yaml`` defaults < ``environments/<env>.yaml`` (environment-wide
keys, applied to every layer) < ``stacks/<layer>/Pulumi.<env>.yaml`` < command-line flags.
Values are turned into strings exactly as the Pulumi CLI hands them to a program.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import manifest
from .errors import ConfigError, PlatformError, quote
from .manifest import REPO_ROOT, Layer
from .settings import ENV_FALLBACKS, ENVIRONMENT_KEYS

ENVIRONMENTS_DIR = REPO_ROOT / "environments"

# libyaml's parser (PyYAML's C binding, in its wheels) reads the same documents about ten times
# faster than the pure-Python one, and every task reads each layer's Pulumi.yaml several times
# (config, pre-flight, the twin rendering of `invoke check`). Same SafeLoader constructors and types.
# libyaml is slightly more lenient on whitespace (a tab before a comment, `a: 1\t# c`, which the
# pure-Python scanner refuses): such a file is read, and its values still go through every setting's
# validation; a file libyaml refuses still gets the pure-Python parser's message.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def to_config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def relative(path: Path) -> str:
    """``path`` as users see it: relative to the repository when it is inside."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """One sentence naming the file, line and column of a YAML syntax error (PyYAML's own text
    spans several lines and calls the file ``<unicode string>``)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    started = ""
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        started = f" ({context} that starts at line {context_mark.line + 1})"
    return f"{relative(path)}{where} is not valid YAML: {problem}{started}. Fix the file and run the task again."


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; PlatformError naming the file (and line) otherwise."""
    text = path.read_text()
    try:
        data = yaml.load(text, Loader=_YAML_LOADER) or {}
    except yaml.YAMLError:
        # The pure-Python parser has the final word on a file libyaml refuses: its messages are
        # the ones users know (and quote to each other).
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise PlatformError(yaml_problem(path, exc)) from None
    if not isinstance(data, dict):
        raise PlatformError(f"{relative(path)} must be a YAML mapping of key: value (found {type(data).__name__}).")
    return data


def project_config_schema(layer: Layer) -> dict[str, dict[str, Any]]:
    """The ``config:`` block of the layer's Pulumi.yaml: key -> {type, default, description}."""
    data = read_yaml(layer.directory / "Pulumi.yaml")
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


def environment_values(env: str) -> dict[str, Any]:
    """The keys of ``environments/<env>.yaml`` as written ({} without the file, or when it is not a
    readable mapping: :func:`assemble` reports a broken file, with where and why)."""
    path = environment_file(env)
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return dict(data) if isinstance(data, dict) else {}


def environment_org(env: str, environ: Mapping[str, str]) -> str:
    """The Pulumi organization of environment ``env``'s stacks: ``pulumiOrg`` of
    ``environments/<env>.yaml``, else its environment variable (``PULUMI_ORG``), else "": what the
    layers' StackReferences name too."""
    value = environment_values(env).get("pulumiOrg")
    variable, _ = ENV_FALLBACKS["pulumiOrg"]
    return str(value).strip() if value else environ.get(variable, "").strip()


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
        names = read_yaml(path).get("layers")
    setting = f"{path.name}: layers" if path is not None else "layers"
    if names is None or names == []:
        return tuple(manifest.ordered(manifest.LAYERS))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(setting, names, "a list of layer names, for example [network, data, compute]")
    return tuple(manifest.ordered(manifest.select(names, setting=setting, layers=manifest.LAYERS)))


@dataclass(frozen=True)
class Origin:
    """Where a config value was written: the file, the key as written there, and the value."""

    file: str
    key: str
    value: Any


@dataclass(frozen=True)
class StackConfig:
    values: dict[str, str]
    secret_keys: tuple[str, ...]
    sources: tuple[str, ...]
    # Qualified key -> the file that set it (environment file or stack file); defaults and task
    # flags are not listed.
    origins: dict[str, Origin] = field(default_factory=dict)

    def locate(self, error: ConfigError) -> ConfigError:
        """``error`` restated with the file and key the bad value came from, when a file set it.

        A layer reads ``mlapi-network:protect``; the user wrote ``protect`` in
        ``environments/<env>.yaml``, and that is what the message must name.
        """
        if error.origin:
            return error
        origin = self.origins.get(error.setting) or self.origins.get(error.setting.split(".", 1)[0])
        if origin is None:
            return error
        key = origin.key + error.setting[len(error.setting.split(".", 1)[0]) :]
        return ConfigError(key, error.value, error.allowed, hint=error.hint, origin=origin.file)

    def suffix_mismatch(self, project: str, env: str) -> str | None:
        """Why the environmentSuffix a file sets cannot be used with stack ``env``, or None."""
        origin = self.origins.get(f"{project}:environmentSuffix")
        if origin is None or str(origin.value).strip() in ("", env):
            return None
        return (
            f"environmentSuffix is {quote(str(origin.value))} ({origin.file}) but the stack is {quote(env)}. The tasks use "
            f"the stack name as the suffix so two environments never share a resource name: remove environmentSuffix from "
            f"{origin.file}, or use --env {origin.value}."
        )


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

    origins: dict[str, Origin] = {}
    env_path = environment_file(env)
    if env_path is not None:
        env_file = relative(env_path)
        sources.append(env_file)
        for key, value in read_yaml(env_path).items():
            key = str(key)
            if key == "aws:region":
                values["aws:region"] = to_config_string(value)
                origins["aws:region"] = Origin(env_file, key, value)
                continue
            if key not in ENVIRONMENT_KEYS:
                raise ConfigError(
                    key,
                    value,
                    "environment files hold only environment-wide keys: " + ", ".join(["aws:region", *ENVIRONMENT_KEYS]),
                    hint=f"Layer settings belong in stacks/<layer>/Pulumi.{env}.yaml.",
                    origin=env_file,
                )
            values[qualify(key)] = to_config_string(value)
            origins[qualify(key)] = Origin(env_file, key, value)

    stack_path = layer.directory / f"Pulumi.{env}.yaml"
    if stack_path.exists():
        stack_file = relative(stack_path)
        sources.append(stack_file)
        config = read_yaml(stack_path).get("config") or {}
        if not isinstance(config, dict):
            raise PlatformError(f"{stack_file}: config: must be a mapping of key: value.")
        for key, value in config.items():
            key = str(key)
            full = qualify(key)
            namespace, _, bare = full.partition(":")
            if namespace == layer.project and bare not in schema:
                raise ConfigError(
                    key,
                    value,
                    f"not a setting of the {layer.name} layer; its settings are " + ", ".join(sorted(schema)),
                    origin=stack_file,
                )
            origins[full] = Origin(stack_file, key, value)
            if isinstance(value, dict) and "secure" in value:
                # Encrypted with the stack's secrets provider: it cannot be read offline.
                values[full] = "[secret]"
                secret_keys.append(full)
            else:
                values[full] = to_config_string(value)

    for key, value in (overrides or {}).items():
        if value is not None:
            values[qualify(key)] = to_config_string(value)
    return StackConfig(values=values, secret_keys=tuple(secret_keys), sources=tuple(sources), origins=origins)
