"""Pre-flight: everything that must hold before a deploy task touches any state.

Every check runs and every failure is reported (one or two lines each, saying how to fix it),
so a user fixes them all in one go. Nothing here creates, selects or changes a stack or anything
in AWS: the only command run is ``pulumi version``; AWS is asked ``sts:GetCallerIdentity`` and, for
a deploy, the read-only account checks of :mod:`shared.deploy.account` (IAM, Service Quotas, EC2,
ECS and RDS describe calls).

Layer settings are checked generically: each layer's config is assembled from the same files a
real run uses (:func:`shared.stack_config.assemble`) and loaded through the layer's own settings
class *outside* the offline plan, so a layer's own rules for real runs apply (for example sample
domain names that the offline plan accepts and a deployment must not). A layer may add checks
that need more than its settings with a function ``preflight(config: dict[str, str]) -> list[str]``
in the module of its settings class (the class its ``shared/manifest.py`` entry names).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import manifest
from ..config import ConfigReader
from ..errors import ConfigError, PlatformError
from ..naming import validate_suffix
from ..settings import ENVIRONMENT_KEYS, EnvironmentSettings, validate_region
from ..stack_config import assemble, environment_layers, environment_region, environment_values
from . import account
from .cli import INSTALL_HINT, MIN_VERSION, MIN_VERSION_TEXT, Backend, child_environment, locate, parse_version

# The org part of every stack name on a self-managed backend (StackReferences use it).
SELF_MANAGED_ORG = "organization"


@dataclass
class Preflight:
    env: str
    backend: Backend
    region: str | None = None
    executable: str | None = None
    version: str | None = None
    account: str | None = None
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    # Each layer's settings object as loaded by check_layer_settings (what the account checks size).
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


# -- stack files (stacks/<layer>/Pulumi.<env>.yaml) ---------------------------------------------


def stack_file(layer: manifest.Layer, env: str) -> Path:
    return layer.directory / f"Pulumi.{env}.yaml"


def read_stack_file(layer: manifest.Layer, env: str) -> dict[str, Any]:
    path = stack_file(layer, env)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def recorded_region(layer: manifest.Layer, env: str) -> str | None:
    value = (read_stack_file(layer, env).get("config") or {}).get("aws:region")
    return str(value) if value else None


def secrets_mode(layer: manifest.Layer, env: str) -> str | None:
    """The stack's secrets provider as its stack file records it: a URL, ``passphrase`` or None."""
    data = read_stack_file(layer, env)
    if data.get("secretsprovider"):
        return str(data["secretsprovider"])
    if data.get("encryptionsalt"):
        return "passphrase"
    return None


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(manifest.REPO_ROOT))
    except ValueError:
        return str(path)


# -- individual checks ----------------------------------------------------------------------------


def check_cli(pre: Preflight, environ: Mapping[str, str]) -> None:
    executable = locate(environ)
    if executable is None:
        pre.problems.append(f"The Pulumi CLI is not on PATH (version {MIN_VERSION_TEXT} or later is needed). {INSTALL_HINT}")
        return
    try:
        done = subprocess.run(
            [executable, "version"],
            env=child_environment(environ, pre.backend),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        text = (done.stdout or "") + (done.stderr or "")
    except (OSError, subprocess.TimeoutExpired) as exc:
        pre.problems.append(f"`{executable} version` did not run ({exc}). {INSTALL_HINT}")
        return
    version = parse_version(text) if done.returncode == 0 else None
    if version is None:
        pre.problems.append(
            f"Could not read a version from `{executable} version` (exit {done.returncode}): {text.strip()[:200]!r}. {INSTALL_HINT}"
        )
        return
    shown = ".".join(map(str, version))
    if version < MIN_VERSION:
        pre.problems.append(
            f"The Pulumi CLI at {executable} is version {shown}; {MIN_VERSION_TEXT} or later is needed. "
            f"Upgrade: `curl -fsSL https://get.pulumi.com | sh` (or `brew upgrade pulumi`)."
        )
        return
    pre.executable, pre.version = executable, shown
    pre.facts.append(f"Pulumi CLI {shown} ({executable})")


def check_suffix(pre: Preflight) -> bool:
    try:
        validate_suffix(pre.env, "--env")
    except ConfigError as exc:
        pre.problems.append(f"{exc} The suffix is the stack name and part of every resource name.")
        return False
    return True


def resolve_region(
    pre: Preflight, flag: str | None, environ: Mapping[str, str], layers: Sequence[manifest.Layer], *, required: bool
) -> None:
    """One region for the whole environment: --region, else environments/<env>.yaml, else the region
    the stacks recorded (Pulumi.<env>.yaml), else AWS_REGION / AWS_DEFAULT_REGION."""
    recorded = {layer.name: r for layer in layers if (r := recorded_region(layer, pre.env))}
    from_file = environment_region(pre.env)
    distinct = sorted(set(recorded.values()))
    region = (
        flag
        or from_file
        or (distinct[0] if len(distinct) == 1 else None)
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
    )
    if len(distinct) > 1:
        where = ", ".join(f"{name}: {r}" for name, r in sorted(recorded.items()))
        pre.problems.append(
            f"The stacks of {pre.env} record different regions ({where}) in their Pulumi.{pre.env}.yaml; "
            f"an environment lives in one region. Fix aws:region in those files (or `invoke down-all --env {pre.env}` and start again)."
        )
    elif distinct and region and region != distinct[0]:
        pre.problems.append(
            f"The stacks of {pre.env} were deployed to {distinct[0]} (aws:region in {', '.join(_rel(stack_file(manifest.by_name(n), pre.env)) for n in sorted(recorded))}); "
            f"deploying them to {region} would replace every resource. Use another --env for another region, or `invoke down-all --env {pre.env}` first."
        )
    if region is None:
        if required:
            pre.problems.append(
                f"No AWS region for {pre.env}: pass --region, set aws:region in environments/{pre.env}.yaml, or export AWS_REGION."
            )
        return
    try:
        pre.region = validate_region(region, "--region" if flag else "aws:region")
    except ConfigError as exc:
        pre.problems.append(str(exc))


def check_aws(pre: Preflight) -> None:
    """Resolve credentials the way the AWS provider will (boto3's chain) and show whose they are."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    fix = (
        "Set AWS_PROFILE (and run `aws sso login` for an SSO profile) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
        "then check with `aws sts get-caller-identity`."
    )
    try:
        session = boto3.session.Session()
        # STS needs some region to sign with; "aws-global" is the partition-wide endpoint, not a
        # deployment region.
        region = pre.region or session.region_name or "aws-global"
        client = session.client(
            "sts", region_name=region, config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
        )
        identity = client.get_caller_identity()
    except ProfileNotFound as exc:
        pre.problems.append(f"AWS credentials: {exc}. Fix AWS_PROFILE or add the profile to ~/.aws/config.")
        return
    except (NoCredentialsError, PartialCredentialsError):
        pre.problems.append(f"No AWS credentials found. {fix}")
        return
    except ClientError as exc:
        error = exc.response.get("Error", {})
        pre.problems.append(
            f"AWS rejected the credentials ({error.get('Code', 'error')}: {error.get('Message', exc)}). Refresh them: {fix}"
        )
        return
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        pre.problems.append(f"Could not reach AWS STS to check the credentials ({exc}). Check the network or proxy settings.")
        return
    except BotoCoreError as exc:
        pre.problems.append(f"AWS credentials could not be resolved: {exc}. {fix}")
        return
    pre.account = identity.get("Account")
    pre.facts.append(f"AWS account {pre.account} as {identity.get('Arn')}")


def _will_use_passphrase(
    backend: Backend, flag: str | None, existing: Mapping[str, str], layers: Sequence[manifest.Layer]
) -> bool:
    """Whether some layer's stack encrypts with a passphrase.

    A layer's ``Pulumi.<env>.yaml`` says which provider its stack uses. Without one (a new stack,
    or an existing stack whose file is not in this checkout, as in a CI cleanup job) it is the
    ``--secrets-provider`` flag, else the backend's default: a passphrase on a self-managed backend.
    """
    for layer in layers:
        mode = existing.get(layer.name) or flag or "default"
        if mode == "passphrase" or (mode == "default" and backend.self_managed):
            return True
    return False


def check_secrets(
    pre: Preflight,
    environ: Mapping[str, str],
    layers: Sequence[manifest.Layer],
    *,
    secrets_provider: str | None,
) -> None:
    """One secrets provider for every layer, and the passphrase present when one is needed."""
    existing = {layer.name: m for layer in layers if (m := secrets_mode(layer, pre.env))}
    modes = set(existing.values())
    if len(modes) > 1:
        where = ", ".join(f"{n}: {m}" for n, m in sorted(existing.items()))
        pre.problems.append(
            f"The stacks of {pre.env} use different secrets providers ({where}); every layer must share one "
            f"(StackReferences decrypt each other's outputs). Align them with `pulumi stack change-secrets-provider`."
        )
    elif secrets_provider and modes and modes != {secrets_provider}:
        pre.problems.append(
            f"--secrets-provider {secrets_provider} differs from the one the existing stacks of {pre.env} use ({modes.pop()}, "
            f"in their Pulumi.{pre.env}.yaml); use the same for every layer, or leave the flag out."
        )
    if not _will_use_passphrase(pre.backend, secrets_provider, existing, layers):
        if secrets_provider:
            pre.facts.append(f"secrets: {secrets_provider}")
        return
    passphrase_file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if "PULUMI_CONFIG_PASSPHRASE" in environ:
        pre.facts.append("secrets: passphrase from PULUMI_CONFIG_PASSPHRASE")
    elif passphrase_file:
        if not os.access(passphrase_file, os.R_OK):
            pre.problems.append(f"PULUMI_CONFIG_PASSPHRASE_FILE is {passphrase_file}, which cannot be read.")
        else:
            pre.facts.append(f"secrets: passphrase from PULUMI_CONFIG_PASSPHRASE_FILE ({passphrase_file})")
    else:
        pre.problems.append(
            f"PULUMI_CONFIG_PASSPHRASE is not set. The state backend {pre.backend.url} encrypts stack secrets with a "
            "passphrase, one for every layer (StackReferences decrypt each other's outputs): export PULUMI_CONFIG_PASSPHRASE "
            "(or PULUMI_CONFIG_PASSPHRASE_FILE=<file>) from your password manager or CI secret store. Stacks created with "
            "--secrets-provider awskms://... need no passphrase: pass the same --secrets-provider (also to down-all, refresh "
            "and outputs when their Pulumi." + pre.env + ".yaml files are not in this checkout)."
        )


# Written by the tasks on every run whatever the environment file says (the suffix, and
# decommission: false unless the file says true), so never left behind.
_ALWAYS_WRITTEN = ("environmentSuffix", "decommission")


def check_left_environment_keys(pre: Preflight, layers: Sequence[manifest.Layer], *, deploying: bool) -> None:
    """Environment-wide keys a layer's stack file holds that ``environments/<env>.yaml`` does not
    set: usually what an earlier run wrote from the file before the key was removed from it. Pulumi
    keeps them, so the layer still uses them: each is shown; a ``layers`` selection that differs
    from the environment's is refused before a deploy (the layer's program would leave out what the
    other layers need, for example the payments security groups)."""
    in_file = set(environment_values(pre.env))
    try:
        selected = {lyr.name for lyr in environment_layers(pre.env)}
    except (ConfigError, PlatformError):
        return
    for layer in layers:
        config = read_stack_file(layer, pre.env).get("config") or {}
        if not isinstance(config, dict):
            continue
        for key in ENVIRONMENT_KEYS:
            qualified = f"{layer.project}:{key}"
            if key in _ALWAYS_WRITTEN or key in in_file or qualified not in config:
                continue
            value = config[qualified]
            where = _rel(stack_file(layer, pre.env))
            if key == "layers":
                try:
                    names = yaml.safe_load(value) if isinstance(value, str) else value
                except yaml.YAMLError:
                    names = value
                if isinstance(names, list) and (not names or set(map(str, names)) == selected):
                    continue  # the same selection (empty: every layer)
                if deploying:
                    pre.problems.append(
                        f"{layer.name}: {where} still selects layers {value} (an earlier run wrote it from the "
                        f"environment file), but environments/{pre.env}.yaml selects {', '.join(sorted(selected))}: the "
                        f"layer would be deployed for another set of layers. Remove {qualified} from {where}, or set "
                        f"layers: in environments/{pre.env}.yaml."
                    )
                    continue
            pre.facts.append(
                f"note: {where} keeps {qualified} = {value!r}, which environments/{pre.env}.yaml does not set: the "
                f"{layer.name} layer still uses it (remove it there if the environment dropped it)"
            )


def check_organization(pre: Preflight, org: str) -> None:
    """On Pulumi Cloud the environment names its organization: a bare stack name would be created
    in the user's default one, where the layers' StackReferences (<org>/<project>/<stack>) do not look."""
    if not pre.backend.self_managed and not org:
        pre.problems.append(
            f"the state backend is Pulumi Cloud ({pre.backend.url}) but no organization is set: set `pulumiOrg: <your-org>` "
            f"in environments/{pre.env}.yaml (or export PULUMI_ORG). Every stack is then <your-org>/{pre.env}, where the "
            "layers' StackReferences read each other's outputs; without it stacks would land in your default organization."
        )
    elif not pre.backend.self_managed:
        pre.facts.append(f"stacks: {org}/<project>/{pre.env} (pulumiOrg)")


def check_identity(pre: Preflight, layers: Sequence[manifest.Layer], environ: Mapping[str, str], *, stack_org: str = "") -> None:
    """The stack name is the suffix (so two environments never share a resource name), on a
    self-managed backend every StackReference is organization/<project>/<stack>, and on Pulumi
    Cloud every layer reads the organization its stacks are created in."""
    for layer in layers:
        try:
            cfg = assemble(layer, pre.env)
        except (ConfigError, PlatformError):
            continue  # reported by check_layer_settings
        where = ", ".join(cfg.sources[1:]) or _rel(layer.directory / "Pulumi.yaml")
        mismatch = cfg.suffix_mismatch(layer.project, pre.env)
        if mismatch:
            pre.problems.append(f"{layer.name}: {mismatch}")
        org = cfg.values.get(f"{layer.project}:pulumiOrg") or environ.get("PULUMI_ORG", "").strip()
        if not cfg.values.get(f"{layer.project}:pulumiOrg") and org:
            where = "environment variable PULUMI_ORG"
        if pre.backend.self_managed and org and org != SELF_MANAGED_ORG:
            pre.problems.append(
                f"{layer.name}: pulumiOrg is {org!r} ({where}), but on the self-managed backend {pre.backend.url} every stack is "
                f"{SELF_MANAGED_ORG}/<project>/<stack>, so StackReferences would not resolve. Remove pulumiOrg, or use Pulumi Cloud."
            )
        elif not pre.backend.self_managed and stack_org and org and org != stack_org:
            pre.problems.append(
                f"{layer.name}: pulumiOrg is {org!r} ({where}), but the environment's stacks are in {stack_org!r} "
                f"(environments/{pre.env}.yaml or PULUMI_ORG): its StackReferences would not find them. Set pulumiOrg "
                "in the environment file only."
            )


def load_layer_settings(layer: manifest.Layer, env: str, values: Mapping[str, str], environ: Mapping[str, str]) -> list[str]:
    """Load ``layer``'s settings from ``values`` as a real run would; returns its hook's problems."""
    return _load_layer_settings(layer, env, values, environ)[1]


def _load_layer_settings(
    layer: manifest.Layer, env: str, values: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[Any, list[str]]:
    reader = ConfigReader(layer.project, lambda key: values.get(f"{layer.project}:{key}"))
    env_settings = EnvironmentSettings.load(
        layer.name, reader, project=layer.project, stack=env, aws_lookup=lambda key: values.get(f"aws:{key}"), environ=environ
    )
    # Loaded with the layer's directory on sys.path, as its program runs: load() may import more of its package.
    with manifest.layer_on_path(layer.directory):
        try:
            module, settings_class = layer.settings_module_and_class()
        except LookupError as exc:
            raise PlatformError(str(exc)) from None
        loaded = settings_class.load(reader, env=env_settings)
        hook = getattr(module, "preflight", None)
        return loaded, (list(hook(dict(values))) if callable(hook) else [])


def check_layer_settings(pre: Preflight, layers: Sequence[manifest.Layer], environ: Mapping[str, str]) -> None:
    if pre.region is None:
        return  # the region problem is already reported; every layer would repeat it
    for layer in layers:
        try:
            cfg = assemble(layer, pre.env, overrides={"aws:region": pre.region, "environmentSuffix": pre.env})
        except (ConfigError, PlatformError) as exc:
            pre.problems.append(f"{layer.name}: {exc}")
            continue
        try:
            pre.settings[layer.name], problems = _load_layer_settings(layer, pre.env, cfg.values, environ)
        except ConfigError as exc:
            if exc.setting in cfg.secret_keys:
                continue  # an encrypted value cannot be read here; the real run checks it
            pre.problems.append(f"{layer.name}: {cfg.locate(exc)}")
            continue
        except PlatformError as exc:
            pre.problems.append(f"{layer.name}: {exc}")
            continue
        except Exception as exc:
            pre.problems.append(f"{layer.name}: its settings could not be loaded ({type(exc).__name__}: {exc}).")
            continue
        pre.problems.extend(f"{layer.name}: {p}" for p in problems)


# The settings that name a hostname the layer takes in Route 53 (an alias record and a certificate).
_HOSTNAMES = {"compute": "alb_domain_name", "payments": "alb_domain_name", "edge": "site_hostname"}


def check_hostnames(pre: Preflight, environ: Mapping[str, str]) -> None:
    """No two layers of the environment take the same hostname: the second alias record is refused
    by Route 53 (or, allowed to overwrite, takes the name from the first), a CloudFront origin named
    like the site loops, and the certificates' shared validation record goes with whichever layer
    is destroyed first. Checked across every layer of the environment, deployed now or not."""
    if pre.region is None:
        return
    try:
        layers = [lyr for lyr in environment_layers(pre.env) if lyr.name in _HOSTNAMES]
    except (ConfigError, PlatformError):
        return
    taken: dict[str, list[str]] = {}
    for layer in layers:
        settings = pre.settings.get(layer.name)
        if settings is None:
            try:
                cfg = assemble(layer, pre.env, overrides={"aws:region": pre.region, "environmentSuffix": pre.env})
                settings, _ = _load_layer_settings(layer, pre.env, cfg.values, environ)
            except Exception:
                continue  # its own problems are reported when it is deployed
        hostname = getattr(settings, _HOSTNAMES[layer.name], None)
        if hostname:
            taken.setdefault(str(hostname), []).append(layer.name)  # lowercase DNS names: the settings refuse others
    for hostname, names in sorted(taken.items()):
        if len(names) > 1:
            pre.problems.append(
                f"{' and '.join(names)} both take the hostname {hostname}: each needs its own (compute's and payments' "
                "albDomainName name their load balancers, edge's domain the site CloudFront serves; for example "
                f"api.<domain> for the site and origin.api.<domain> for the load balancer). Route 53 would refuse the "
                "second alias record, and the certificates' shared validation record would go with the first layer destroyed."
            )


def check_policy_pack(pre: Preflight, policy_dir: Path) -> None:
    """The policy pack runs in the virtualenv its PulumiPolicy.yaml names; without it (or without
    pulumi_policy in it) every `pulumi up --policy-pack` fails after the stack was selected."""
    spec = policy_dir / "PulumiPolicy.yaml"
    try:
        data = yaml.safe_load(spec.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        pre.problems.append(f"The policy pack's {_rel(spec)} cannot be read ({exc}). Fix it, or pass --no-policy.")
        return
    runtime = data.get("runtime") if isinstance(data, dict) else None
    options = runtime.get("options") if isinstance(runtime, dict) else None
    virtualenv = options.get("virtualenv") if isinstance(options, dict) else None
    if not virtualenv:
        return  # the CLI creates and fills the pack's own virtualenv itself
    where = (policy_dir / str(virtualenv)).resolve()
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    fix = "Run ./scripts/bootstrap.sh (it creates .venv with everything the pack imports), or pass --no-policy to deploy without it."
    if not python.exists():
        pre.problems.append(
            f"The policy pack ({_rel(policy_dir)}) runs in the virtualenv {virtualenv} ({_rel(where)}, from {_rel(spec)}), "
            f"which does not exist. {fix}"
        )
        return
    if (
        not any(where.glob("lib/python*/site-packages/pulumi_policy"))
        and not (where / "Lib/site-packages/pulumi_policy").exists()
    ):
        pre.problems.append(f"The policy pack's virtualenv {_rel(where)} has no pulumi_policy installed. {fix}")
        return
    pre.facts.append(f"policy pack virtualenv: {_rel(where)}")


def check_account(pre: Preflight, service_layers: Sequence[str]) -> None:
    """Account preconditions for the layers about to be deployed (account.py): read-only."""
    import boto3

    if pre.region is None or pre.account is None or not pre.settings:
        return  # no region or no credentials: already reported
    session = boto3.session.Session(region_name=pre.region)
    problems, facts = account.check(
        lambda service: session.client(service),
        env=pre.env,
        region=pre.region,
        account=pre.account,
        settings=pre.settings,
        service_layers=service_layers,
    )
    pre.problems.extend(problems)
    pre.facts.extend(facts)


# -- the whole pre-flight ---------------------------------------------------------------------------


def run(
    env: str,
    backend: Backend,
    environ: Mapping[str, str],
    *,
    layers: Sequence[manifest.Layer],
    settings_layers: Sequence[manifest.Layer] = (),
    region: str | None = None,
    need_region: bool = False,
    need_aws: bool = True,
    secrets_provider: str | None = None,
    org: str = "",
    policy_dir: Path | None = None,
    account_checks: bool = False,
    service_layers: Sequence[str] = (),
) -> Preflight:
    """Run every check for a task over ``layers`` (whose stacks it may touch); ``settings_layers``
    are the layers about to be deployed or previewed, whose settings must load. ``policy_dir``: the
    policy pack the run enforces. ``account_checks``: the account preconditions of a deploy
    (service-linked role for ``service_layers``, quotas, engine version)."""
    pre = Preflight(env=env, backend=backend)
    check_cli(pre, environ)
    suffix_ok = check_suffix(pre)
    if suffix_ok:
        resolve_region(pre, region, environ, layers, required=need_region)
        check_organization(pre, org)
        check_left_environment_keys(pre, layers, deploying=bool(settings_layers))
        check_identity(pre, settings_layers, environ, stack_org=org)
        check_secrets(pre, environ, layers, secrets_provider=secrets_provider)
    elif region:
        try:
            pre.region = validate_region(region, "--region")
        except ConfigError as exc:
            pre.problems.append(str(exc))
    if need_aws:
        check_aws(pre)
    if suffix_ok and settings_layers:
        check_layer_settings(pre, settings_layers, environ)
        check_hostnames(pre, environ)
    if policy_dir is not None:
        check_policy_pack(pre, policy_dir)
    if need_aws and account_checks and suffix_ok:
        check_account(pre, service_layers)
    where = (
        "default, in the repository; set PULUMI_BACKEND_URL to share it" if not backend.chosen_by_user else "PULUMI_BACKEND_URL"
    )
    pre.facts.insert(0, f"state: {backend.url} ({where})")
    return pre
