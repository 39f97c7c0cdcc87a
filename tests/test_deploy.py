"""The deploy tasks (up-all, down-all, up, down, preview, refresh, outputs) against a recording
stand-in for the Pulumi CLI (tests/pulumi_standin.py) and moto for AWS.

The tasks run over a small fake manifest (net <- db <- app <- cdn, cdn with a sample-domain rule
like the edge layer's) so the assertions do not depend on which real layers exist yet; one test
loads the real layers' settings the same way.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, share_botocore_loaders
from invoke import Context, Exit
from standin_inproc import InProcessCli

from shared import contracts, manifest, stack_config
from shared.deploy import cli as deploy_cli
from shared.deploy import orchestrator, preflight
from shared.deploy.outputs import flatten, redact
from shared.settings import ENVIRONMENT_KEYS

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tasks.py lives at the repository root
import tasks

TESTS = Path(__file__).resolve().parent
ENV = "t1"
REGION = "eu-west-1"
PASSPHRASE = "tr0ub4dor-and-3-horse-staples"
FAKE_LAYERS = (("net", ()), ("db", ("net",)), ("app", ("net", "db")), ("cdn", ("app",)))
ORDER = ["net", "db", "app", "cdn"]

SETTINGS = """
from dataclasses import dataclass

from shared.runtime import is_offline_plan


@dataclass(frozen=True)
class FakeSettings:
    env: object
    domain: object = None

    @classmethod
    def load(cls, reader=None, env=None):
        domain = None
        if {has_domain}:
            domain = reader.string("domainName", "example.com")
            if domain == "example.com" and not is_offline_plan():
                raise reader.fail("domainName", domain, "a domain you own (example.com is the documented sample)",
                                  hint="Set it in stacks/{name}/Pulumi.<env>.yaml.")
        return cls(env, domain)
"""


def build_fake_layers(root: Path, graph: Any = None) -> tuple[manifest.Layer, ...]:
    layers = []
    for name, reads in FAKE_LAYERS if graph is None else graph:
        directory = root / "stacks" / name
        (directory / f"mlapi_{name}").mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            k: {"type": "string", "default": "" if d is None else d} for k, (d, _) in ENVIRONMENT_KEYS.items()
        }
        if name == "cdn":
            config["domainName"] = {"type": "string", "default": "example.com"}
            config["secretVersion"] = {"type": "string", "default": "1"}  # stepped, as edge's originSecretVersion
        if name == "net":  # fixed once deployed, as the real network's vpcCidr
            config["vpcCidr"] = {"type": "string", "default": "10.0.0.0/16"}
        (directory / "Pulumi.yaml").write_text(json.dumps({"name": f"mlapi-{name}", "runtime": "python", "config": config}))
        (directory / "__main__.py").write_text("")
        (directory / f"mlapi_{name}" / "__init__.py").write_text("")
        (directory / f"mlapi_{name}" / "settings.py").write_text(SETTINGS.format(has_domain=name == "cdn", name=name))
        fixed = (("vpcCidr", "vpcCidr"),) if name == "net" else ()
        stepped = (("secretVersion", "secretVersion"),) if name == "cdn" else ()
        layers.append(
            manifest.Layer(
                name, reads, f"fake {name}", settings=f"mlapi_{name}.settings:FakeSettings", fixed=fixed, stepped=stepped
            )
        )
    (root / "environments").mkdir(exist_ok=True)
    return tuple(layers)


def patch_targets(root: Path, graph: Any = None) -> list[tuple[Any, str, Any]]:
    """(object, attribute, value) that point the manifest, config files, state and policy at ``root``;
    with ``graph`` (another FAKE_LAYERS), those layers, and the manifest's ``select`` defaults to them
    (the layers' settings validate `layers` against it)."""
    targets = [
        (manifest, "LAYERS", build_fake_layers(root, graph)),
        (manifest, "STACKS_DIR", root / "stacks"),
        (stack_config, "ENVIRONMENTS_DIR", root / "environments"),
        (stack_config, "REPO_ROOT", root),
        (deploy_cli, "DEFAULT_STATE_DIR", root / "state"),
        (orchestrator, "POLICY_DIR", root / "policy"),
    ]
    if graph is not None:
        select = manifest.select

        def select_fake(names: Any, *, setting: str = "layers", layers: Any = None) -> Any:
            return select(names, setting=setting, layers=layers or manifest.LAYERS)

        targets.append((manifest, "select", select_fake))
    return targets


def set_domain(root: Path, env: str = ENV, domain: str = "api.acme-ml.io") -> None:
    (root / "stacks" / "cdn" / f"Pulumi.{env}.yaml").write_text(f"config:\n  mlapi-cdn:domainName: {domain}\n")


# The stand-in's executable (why -SEB and the pycache: see tests/pulumi_standin.py's docstring).
LAUNCHER = """#!{python} -SEB
import sys
sys.path[:0] = {path!r}
sys.pycache_prefix, sys.dont_write_bytecode = {pycache!r}, False
import pulumi_standin
sys.exit(pulumi_standin.script(sys.argv[1:]))
"""


class Standin:
    """The stand-in's launcher at ``<root>/bin/pulumi`` and what its calls recorded. With
    ``in_process`` (see :meth:`run_in_process`), ``inproc`` runs the calls in threads."""

    inproc: InProcessCli | None = None

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        exe = self.bin / "pulumi"
        exe.write_text(
            LAUNCHER.format(
                python=sys.executable,
                path=[str(TESTS), str(Path(yaml.__file__).parent.parent)],
                pycache=str(root / "pycache"),
            )
        )
        exe.chmod(0o755)
        self.log_path = root / "pulumi.log"
        self.state_path = root / "pulumi-state.json"

    @property
    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else {}

    def configure(self, **values: Any) -> None:
        state = self.state
        state.update(values)
        self.state_path.write_text(json.dumps(state))

    def calls(self, command: str | None = None) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        records = [json.loads(line) for line in self.log_path.read_text().splitlines()]
        return [r for r in records if command is None or r["command"] == command]

    def layers_of(self, command: str) -> list[str]:
        return [r["project"].removeprefix("mlapi-") for r in self.calls(command)]

    def stacks(self) -> set[str]:
        return set(self.state.get("stacks", {}))

    def touched_state(self) -> bool:
        return any(r["command"] != "version" for r in self.calls())

    def run_in_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The deploy code's calls of the launcher run the stand-in in a thread of this process
        (tests/standin_inproc.py): same records, no interpreter start-up per call."""
        self.inproc = InProcessCli(self.bin / "pulumi").install(monkeypatch)


@pytest.fixture
def standin(tmp_path, monkeypatch):
    return prepare_standin(tmp_path, monkeypatch)


def prepare_standin(root: Path, monkeypatch: pytest.MonkeyPatch, *, in_process: bool = True) -> Standin:
    """The fake layers, the launcher first on PATH, and a deploy environment without the
    developer's settings; the CLI runs in-process unless ``in_process`` is False."""
    for obj, name, value in patch_targets(root):
        monkeypatch.setattr(obj, name, value)
    set_domain(root)
    s = Standin(root)
    if in_process:
        s.run_in_process(monkeypatch)
    share_botocore_loaders(monkeypatch)
    monkeypatch.setenv("PATH", f"{s.bin}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(s.log_path))
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(s.state_path))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    for var in (
        "PULUMI_BACKEND_URL",
        "PULUMI_CONFIG_PASSPHRASE_FILE",
        "PULUMI_ACCESS_TOKEN",
        "ENVIRONMENT_SUFFIX",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(root / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / "no-aws-credentials"))
    monkeypatch.setattr(orchestrator, "_sleep", lambda seconds: None)  # tests that count the waits patch it again
    return s


@pytest.fixture
def aws(shared_botocore_loaders):
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def deploy(standin, aws):
    return standin


def run_task(task, **kwargs) -> None:
    task(Context(), **kwargs)


def failing(task, **kwargs) -> Exit:
    with pytest.raises(Exit) as info:
        task(Context(), **kwargs)
    return info.value


# -- up-all ---------------------------------------------------------------------------------------


def test_up_all_deploys_every_layer_in_manifest_order_with_its_stack_config_and_environment(deploy, capsys):
    run_task(tasks.up_all, env=ENV, region=REGION)
    out = capsys.readouterr().out

    assert deploy.layers_of("up") == ORDER
    assert deploy.layers_of("stack select") == ORDER
    backend = (deploy.root / "state").resolve().as_uri()
    assert (deploy.root / "state").is_dir()
    for record in deploy.calls():
        assert record["env"]["PULUMI_BACKEND_URL"] == backend
        assert record["env"]["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE  # handed to the child, never printed
    for name in ORDER:
        directory = str(deploy.root / "stacks" / name)
        select = next(r for r in deploy.calls("stack select") if r["project"] == f"mlapi-{name}")
        assert select["argv"] == ["stack", "select", "--create", "--stack", ENV, "--cwd", directory, "--non-interactive"]
        config = next(r for r in deploy.calls("config set-all") if r["project"] == f"mlapi-{name}")
        pairs = [config["argv"][i + 1] for i, a in enumerate(config["argv"]) if a == "--plaintext"]
        assert pairs == [f"aws:region={REGION}", f"mlapi-{name}:environmentSuffix={ENV}", f"mlapi-{name}:decommission=false"]
        up = next(r for r in deploy.calls("up") if r["project"] == f"mlapi-{name}")
        assert up["argv"] == ["up", "--stack", ENV, "--cwd", directory, "--non-interactive", "--yes"]
    # Every command names the stack explicitly: nothing depends on the selected stack.
    for record in deploy.calls():
        if record["command"] not in ("version", "stack ls", "stack rm"):
            assert record["argv"][record["argv"].index("--stack") + 1] == ENV
    # Engine output is streamed with the layer's name; the summary comes from the CLI's history.
    assert "[db] Updating (t1)" in out
    summary = out[out.index("every layer deployed") :]
    for name in ORDER:
        assert any(line.split()[:3] == [name, "deployed", "2"] for line in summary.splitlines()), summary
    assert "2 created" in summary
    assert "AWS account 123456789012" in out
    # The CLI keeps each stack's config and secrets provider in its Pulumi.<env>.yaml.
    for name in ORDER:
        written = yaml.safe_load((deploy.root / "stacks" / name / f"Pulumi.{ENV}.yaml").read_text())
        assert written["encryptionsalt"] and written["config"]["aws:region"] == REGION


def test_up_all_applies_the_environment_file_to_every_layer(deploy):
    (deploy.root / "environments" / f"{ENV}.yaml").write_text("aws:region: eu-central-1\nteam: ml-platform\nprotect: true\n")
    run_task(tasks.up_all, env=ENV)  # no --region: the environment file's
    for record in deploy.calls("config set-all"):
        layer = record["project"]
        pairs = [record["argv"][i + 1] for i, a in enumerate(record["argv"]) if a == "--plaintext"]
        assert "aws:region=eu-central-1" in pairs
        assert f"{layer}:team=ml-platform" in pairs and f"{layer}:protect=true" in pairs
        assert f"{layer}:environmentSuffix={ENV}" in pairs


def test_an_environment_key_removed_from_the_file_but_left_in_the_stack_files_is_shown(deploy, capsys):
    # Pulumi keeps what an earlier run wrote from the environment file: after `team` is removed
    # from the file, every layer still tags with the old team. The run says so, layer by layer.
    env_file = deploy.root / "environments" / f"{ENV}.yaml"
    env_file.write_text("team: ml-platform\n")
    run_task(tasks.up_all, env=ENV, region=REGION)
    env_file.write_text("protect: false\n")
    capsys.readouterr()
    run_task(tasks.up_all, env=ENV, region=REGION)
    out = capsys.readouterr().out
    for name in ORDER:
        assert f"stacks/{name}/Pulumi.{ENV}.yaml keeps mlapi-{name}:team = 'ml-platform'" in out, out
    assert "keeps mlapi-net:protect" not in out  # set by the file: written, not left behind


def test_a_stale_decommission_in_a_kept_stack_file_is_reset_unless_the_environment_file_says_so(deploy, capsys):
    """decommission lifts deletion protection: it must come from the environment file of this run,
    never from a `true` left in a stack file kept from an earlier teardown."""
    env_file = deploy.root / "environments" / f"{ENV}.yaml"
    env_file.write_text("protect: true\n")
    for name in ORDER:  # added to whatever the stack file already holds (cdn's domain settings)
        path = deploy.root / "stacks" / name / f"Pulumi.{ENV}.yaml"
        kept = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        kept.setdefault("config", {})[f"mlapi-{name}:decommission"] = True
        path.write_text(yaml.safe_dump(kept))
    run_task(tasks.up_all, env=ENV, region=REGION)
    for record in deploy.calls("config set-all"):
        pairs = [record["argv"][i + 1] for i, a in enumerate(record["argv"]) if a == "--plaintext"]
        assert f"{record['project']}:decommission=false" in pairs
    assert "decommission was 'true' in Pulumi." in capsys.readouterr().out  # and the change is said

    env_file.write_text("protect: true\ndecommission: true\n")
    run_task(tasks.up_all, env=ENV, region=REGION)
    latest = deploy.calls("config set-all")[-len(ORDER) :]
    assert all(f"{r['project']}:decommission=true" in r["argv"] for r in latest)


def test_up_all_runs_again_as_an_update_and_reports_no_creations(deploy, capsys):
    run_task(tasks.up_all, env=ENV, region=REGION, skip_preview=True)
    capsys.readouterr()
    run_task(tasks.up_all, env=ENV, region=REGION, skip_preview=True)
    out = capsys.readouterr().out
    assert all("--skip-preview" in r["argv"] for r in deploy.calls("up"))
    assert "Created stack" not in out
    summary = out[out.index("every layer deployed") :]
    assert summary.count("2 unchanged") == len(ORDER) and "created" not in summary


def test_up_all_stops_at_the_first_failure_naming_layer_error_and_next_steps(deploy, capsys):
    deploy.configure(fail={"up mlapi-db": {"times": -1, "message": "creating RDS cluster: InvalidParameterCombination"}})
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    out = capsys.readouterr().out

    assert exc.code == 1
    assert deploy.layers_of("up") == ["net", "db"]
    assert "layer db" in exc.message and "InvalidParameterCombination" in exc.message
    assert f"invoke up-all --env {ENV} --region {REGION}" in exc.message
    assert f"invoke up --layer db --env {ENV}" in exc.message and f"invoke down-all --env {ENV}" in exc.message
    rows = {line.split()[0]: line for line in out[out.index("stopped at db") :].splitlines()[1:] if line.strip()}
    assert "deployed" in rows["net"] and "failed" in rows["db"] and "deployed" not in rows["db"]
    assert "not run" in rows["app"] and "not run" in rows["cdn"]


def test_up_all_reports_a_locked_stack_and_how_to_clear_it(deploy):
    deploy.configure(locked=["mlapi-db/t1"])
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    db = deploy.root / "stacks" / "db"
    assert f"stack t1 of {db} is locked" in exc.message
    assert "taken by ci@runner (pid 4242)" in exc.message and "on another machine" in exc.message
    assert ".pulumi/locks/organization/mlapi-db/t1/4f3c.json" in exc.message
    assert f"pulumi cancel --yes --stack t1 --cwd {db}" in exc.message and "invoke refresh --layer db --env t1" in exc.message
    assert "pulumi stack export" in exc.message
    assert deploy.layers_of("up") == ["net", "db"]


def test_a_lock_held_by_a_dead_process_on_this_machine_is_called_stale(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    def locked_by(pid: int) -> deploy_cli.Result:
        return deploy_cli.Result(
            ["up"],
            255,
            "",
            (
                "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n"
                f"  file:///s/.pulumi/locks/organization/p/t1/x.json: created by me@buildbox.example.com (pid {pid}) at 2024-05-01T10:00:00Z"
            ),
        )

    stale = deploy_cli.lock_verdict(locked_by(dead.pid), hostname="buildbox")
    assert stale.startswith("STALE") and f"no process {dead.pid} runs on this machine" in stale
    live = deploy_cli.lock_verdict(locked_by(os.getpid()), hostname="buildbox")
    assert "still running on this machine" in live and "STALE" not in live
    assert "another machine" in deploy_cli.lock_verdict(locked_by(os.getpid()), hostname="laptop")


def test_the_policy_pack_is_used_when_present_unless_disabled(deploy):
    policy = deploy.root / "policy"
    policy.mkdir()
    (policy / "PulumiPolicy.yaml").write_text("runtime: python\n")
    run_task(tasks.up_all, env=ENV, region=REGION)
    assert all(r["argv"][-2:] == ["--policy-pack", str(policy)] for r in deploy.calls("up"))
    run_task(tasks.up_all, env=ENV, region=REGION, policy=False)
    assert not any("--policy-pack" in r["argv"] for r in deploy.calls("up")[len(ORDER) :])


def test_secrets_provider_is_used_for_every_new_stack_and_replaces_the_passphrase(deploy, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    kms = "awskms://alias/mlapi?region=eu-west-1"
    run_task(tasks.up_all, env=ENV, region=REGION, secrets_provider=kms)
    selects = deploy.calls("stack select")
    assert len(selects) == len(ORDER) and all(r["argv"][-2:] == ["--secrets-provider", kms] for r in selects)
    assert {v["secretsProvider"] for v in deploy.state["stacks"].values()} == {kms}


def test_a_user_backend_is_passed_through_unchanged(deploy, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://team-state-bucket/mlapi")
    run_task(tasks.up_all, env=ENV, region=REGION)
    assert {r["env"]["PULUMI_BACKEND_URL"] for r in deploy.calls()} == {"s3://team-state-bucket/mlapi"}
    assert not (deploy.root / "state").exists()


def test_pulumi_cloud_backend_needs_no_passphrase(deploy, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "https://api.pulumi.com")
    monkeypatch.setenv("PULUMI_ORG", "acme")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    run_task(tasks.up_all, env=ENV, region=REGION)
    assert deploy.layers_of("up") == ORDER


def test_on_pulumi_cloud_every_stack_is_the_environments_organizations(deploy, monkeypatch):
    # The layers' StackReferences read acme/<project>/t1: a bare --stack t1 would create the
    # stacks in the user's default organization instead. A t1 of another organization is not ours.
    monkeypatch.setenv("PULUMI_BACKEND_URL", "https://api.pulumi.com")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    (deploy.root / "environments" / f"{ENV}.yaml").write_text("pulumiOrg: acme\n")
    theirs = {
        "resources": 5,
        "outputs": {"vpcId": "vpc-theirs"},
        "history": [{"version": 1, "kind": "update", "result": "succeeded"}],
        "secretsProvider": "service",
    }
    deploy.configure(default_org="someone", stacks={f"mlapi-net/someone/{ENV}": theirs})
    run_task(tasks.up_all, env=ENV, region=REGION)
    assert deploy.stacks() == {f"mlapi-{layer}/acme/{ENV}" for layer in ORDER} | {f"mlapi-net/someone/{ENV}"}
    named = [r["argv"][r["argv"].index("--stack") + 1] for r in deploy.calls() if "--stack" in r["argv"]]
    assert named and set(named) == {f"acme/{ENV}"}
    run_task(tasks.down_all, env=ENV)
    assert deploy.stacks() == {f"mlapi-net/someone/{ENV}"}  # only ours were destroyed and removed
    assert {r["argv"][2] for r in deploy.calls("stack rm")} == {f"acme/{ENV}"}


def test_pulumi_cloud_without_an_organization_is_refused_before_any_stack_is_touched(deploy, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "https://api.pulumi.com")
    monkeypatch.delenv("PULUMI_ORG", raising=False)
    for task, args in ((tasks.up_all, {"region": REGION}), (tasks.down_all, {})):
        exc = failing(task, env=ENV, **args)
        assert exc.code == 2 and "pulumiOrg" in exc.message and "PULUMI_ORG" in exc.message, exc.message
    assert not deploy.touched_state()


def test_the_passphrase_never_appears_in_output_or_errors(deploy, capsys):
    deploy.configure(echo_secrets=True, fail={"up mlapi-app": {"times": -1, "message": f"decrypt failed with {PASSPHRASE}"}})
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    captured = capsys.readouterr()
    assert PASSPHRASE not in captured.out + captured.err + exc.message
    assert "debug: passphrase is ***" in captured.out and "decrypt failed with ***" in exc.message
    assert deploy.calls("up")[0]["env"]["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE
    assert all(PASSPHRASE not in " ".join(r["argv"]) for r in deploy.calls())


# -- pre-flight -------------------------------------------------------------------------------------


def test_preflight_without_the_cli_says_how_to_install_it(deploy, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    assert exc.code == 2 and "nothing was changed" in exc.message
    assert "Pulumi CLI is not on PATH" in exc.message and "get.pulumi.com" in exc.message
    assert deploy.calls() == []


def test_preflight_refuses_an_old_cli(deploy):
    deploy.configure(version="v3.50.1")
    exc = failing(tasks.down_all, env=ENV)
    assert "version 3.50.1" in exc.message and "3.134.0 or later" in exc.message
    assert not deploy.touched_state()


def test_preflight_without_aws_credentials_shows_how_to_provide_them(standin, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    assert "No AWS credentials found" in exc.message and "AWS_PROFILE" in exc.message
    assert not standin.touched_state()


def test_preflight_rejects_a_bad_suffix_and_region_together(deploy):
    exc = failing(tasks.up_all, env="Bad_Env", region="mars-north-1")
    assert "--env = 'Bad_Env'" in exc.message and "--region = 'mars-north-1'" in exc.message
    assert not deploy.touched_state()


def test_preflight_refuses_sample_settings_through_the_layers_own_rules(deploy):
    (deploy.root / "stacks" / "cdn" / f"Pulumi.{ENV}.yaml").unlink()
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    assert "cdn: Invalid setting mlapi-cdn:domainName = 'example.com'" in exc.message
    assert "documented sample" in exc.message
    assert not deploy.touched_state()


def test_preflight_requires_the_passphrase_for_a_self_managed_backend(deploy, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    assert "PULUMI_CONFIG_PASSPHRASE is not set" in exc.message and "--secrets-provider" in exc.message
    assert not deploy.touched_state()
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(deploy.root / "missing-passphrase"))
    exc = failing(tasks.down_all, env=ENV)
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" in exc.message and "cannot be read" in exc.message


def test_preflight_refuses_moving_an_environment_to_another_region(deploy):
    (deploy.root / "stacks" / "net" / f"Pulumi.{ENV}.yaml").write_text("config:\n  aws:region: us-east-1\n")
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    assert "deployed to us-east-1" in exc.message and "replace every resource" in exc.message
    assert not deploy.touched_state()


def test_preflight_refuses_a_suffix_other_than_the_stack_name(deploy):
    (deploy.root / "environments" / f"{ENV}.yaml").write_text("environmentSuffix: prod\n")
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    assert "environmentSuffix is 'prod'" in exc.message and "never share a resource name" in exc.message


def test_preflight_loads_the_real_layers_settings_without_crashing():
    pre = preflight.Preflight(env="pfcheck", backend=deploy_cli.Backend("file:///tmp/x", False), region="us-east-1")
    preflight.check_layer_settings(pre, manifest.ordered(), {})
    # Only the layers' own validation may object (e.g. sample domains); never a failure to load.
    assert all("could not be loaded" not in p and "no settings class" not in p for p in pre.problems), pre.problems
    # The shipped sample domain and hosted zone are refused for a real run, with how to fix it...
    edge = [p for p in pre.problems if p.startswith("edge:")]
    assert edge and "sample" in edge[0] and "pulumi config set mlapi-edge:" in edge[0], pre.problems
    # ...and real values pass.
    layer = manifest.by_name("edge")
    own = {
        "aws:region": "us-east-1",
        "environmentSuffix": "pfcheck",
        "parentDomain": "api.acme-ml.io",
        "hostedZoneId": "Z0123456789ABCDEFGHIJ",
    }
    values = stack_config.assemble(layer, "pfcheck", overrides=own).values
    assert preflight.load_layer_settings(layer, "pfcheck", values, {}) == []


def test_preflight_refuses_two_layers_taking_the_same_hostname(checkout):
    # Route 53 refuses the second alias record; an origin named like the site loops; destroying one
    # layer takes the certificates' shared validation record with it.
    zone = "Z0123456789ABCDEFGHIJ"
    checkout.stack_file("edge", "hosts").write_text(
        f"config:\n  mlapi-edge:domainName: api.acme-ml.io\n  mlapi-edge:hostedZoneId: {zone}\n"
    )
    compute = checkout.stack_file("compute", "hosts")

    def problems(alb_domain: str) -> list[str]:
        compute.write_text(f"config:\n  mlapi-compute:albDomainName: {alb_domain}\n  mlapi-compute:hostedZoneId: {zone}\n")
        pre = preflight.Preflight(env="hosts", backend=deploy_cli.Backend("file:///tmp/x", False), region="us-east-1")
        preflight.check_hostnames(pre, {})
        return pre.problems

    (same,) = problems("api.acme-ml.io")
    assert "compute and edge both take the hostname api.acme-ml.io" in same and "each needs its own" in same
    assert problems("origin.api.acme-ml.io") == []


def test_on_pulumi_cloud_a_layer_naming_another_organization_is_refused(checkout):
    # Its StackReferences would read <other>/<project>/<env>, while every stack is created in acme.
    checkout.environment_file("orgs").write_text("pulumiOrg: acme\n")
    checkout.stack_file("compute", "orgs").write_text("config:\n  mlapi-compute:pulumiOrg: other\n")
    cloud = deploy_cli.Backend("https://api.pulumi.com", True)
    layers = [manifest.by_name("data"), manifest.by_name("compute")]
    pre = preflight.Preflight(env="orgs", backend=cloud, region="us-east-1")
    preflight.check_identity(pre, layers, {}, stack_org="acme")
    (problem,) = pre.problems
    assert problem.startswith("compute: pulumiOrg is 'other'") and "stacks are in 'acme'" in problem


def test_the_hostname_check_runs_in_a_deploys_pre_flight_and_not_in_a_destroys(deploy, monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(preflight, "check_hostnames", lambda pre, environ: seen.append(pre.env))
    run_task(tasks.up_all, env=ENV, region=REGION)
    run_task(tasks.down_all, env=ENV, retry_delay=0)
    assert seen == [ENV]


# -- down-all and down ---------------------------------------------------------------------------------


def test_down_all_destroys_in_reverse_order_skips_missing_stacks_and_is_idempotent(deploy, capsys):
    deploy.configure(fail={"up mlapi-app": {"times": -1, "message": "boom"}})
    failing(tasks.up_all, env=ENV, region=REGION)  # half-finished: net, db deployed; app's stack empty; no cdn
    capsys.readouterr()

    run_task(tasks.down_all, env=ENV, retry_delay=0)
    out = capsys.readouterr().out
    assert deploy.layers_of("destroy") == ["app", "db", "net"]
    assert deploy.layers_of("stack rm") == ["app", "db", "net"]
    assert all(r["argv"][:4] == ["stack", "rm", ENV, "--yes"] for r in deploy.calls("stack rm"))
    # No stack file of its own (cdn's holds domainName but cdn never had a stack): the CLI may delete it.
    assert not any("--preserve-config" in r["argv"] for r in deploy.calls("stack rm"))
    assert deploy.stacks() == set()
    assert "no stack (skipped)" in out and "nothing left" in out

    run_task(tasks.down_all, env=ENV, retry_delay=0)
    assert len(deploy.calls("destroy")) == 3
    again = capsys.readouterr().out
    assert "nothing to destroy" in again
    # The default backend is this checkout's directory: say that a deploy made elsewhere is not seen.
    assert "set PULUMI_BACKEND_URL to the backend that deploy used" in again


def test_down_all_on_an_empty_team_backend_does_not_warn_about_the_backend(deploy, monkeypatch, capsys):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://team-state-bucket/mlapi")
    run_task(tasks.down_all, env=ENV, retry_delay=0)
    out = capsys.readouterr().out
    assert "No stack of environment" in out and "s3://team-state-bucket/mlapi" in out
    assert "the backend that deploy used" not in out
    assert deploy.calls("destroy") == []


def test_down_all_retries_a_failed_destroy_with_backoff(deploy, monkeypatch, capsys):
    run_task(tasks.up_all, env=ENV, region=REGION)
    deploy.configure(fail={"destroy mlapi-db": {"times": 2, "message": "DependencyViolation: network interface eni-1 in use"}})
    pauses: list[float] = []
    monkeypatch.setattr(orchestrator, "_sleep", pauses.append)
    run_task(tasks.down_all, env=ENV, attempts=3, retry_delay=5)
    assert deploy.layers_of("destroy") == ["cdn", "app", "db", "db", "db", "net"]
    assert pauses == [5, 10]
    assert "attempt 1 of 3" in capsys.readouterr().out
    assert deploy.stacks() == set()


def test_down_all_caps_the_backoff_and_refuses_nonsense_attempts(deploy, monkeypatch):
    run_task(tasks.up_all, env=ENV, region=REGION)
    deploy.configure(fail={"destroy mlapi-cdn": {"times": -1, "message": "DependencyViolation: eni-9 in use"}})
    pauses: list[float] = []
    monkeypatch.setattr(orchestrator, "_sleep", pauses.append)
    failing(tasks.down_all, env=ENV, attempts=5, retry_delay=300)
    assert pauses == [300, 600, 600, 600]  # doubling, at most MAX_RETRY_DELAY per wait; 5 attempts, 4 waits
    assert deploy.layers_of("destroy") == ["cdn"] * 5
    exc = failing(tasks.down_all, env=ENV, attempts=0)
    assert exc.code == 2 and "--attempts must be 1 or more" in exc.message


def test_a_protected_environment_is_destroyed_only_once_deployed_decommissioning(deploy):
    # Pulumi deletes whatever depends on a protected resource before it reaches it: down-all of a
    # protected environment destroyed edge and the services before Aurora refused. The deployed
    # state (the data layer's outputs) decides, before anything is destroyed.
    deploy.configure(outputs={"mlapi-db": {"protected": True, "decommissioning": False}})
    run_task(tasks.up_all, env=ENV, region=REGION)
    for task, args in ((tasks.down_all, {}), (tasks.down, {"layer": "cdn"})):
        exc = failing(task, env=ENV, **args)
        assert exc.code == 2 and "protected environment" in exc.message, exc.message
        assert f"set `decommission: true` in environments/{ENV}.yaml" in exc.message and "up-all" in exc.message
    assert deploy.calls("destroy") == []
    deploy.configure(outputs={"mlapi-db": {"protected": True, "decommissioning": True}})
    run_task(tasks.up_all, env=ENV, region=REGION)  # the decommissioning deploy
    run_task(tasks.down_all, env=ENV, retry_delay=0)
    assert deploy.stacks() == set()


def test_decommission_left_in_the_file_does_not_create_an_unprotected_environment(deploy):
    env_file = deploy.root / "environments" / f"{ENV}.yaml"
    env_file.write_text("protect: true\ndecommission: true\n")
    for task, args in ((tasks.up_all, {}), (tasks.up, {"layer": "net"})):
        exc = failing(task, env=ENV, region=REGION, **args)
        assert exc.code == 2 and "no layer of it is deployed" in exc.message and "Remove `decommission`" in exc.message
    assert not [r for r in deploy.calls() if r["command"] in ("stack select", "up")]
    env_file.write_text("protect: true\n")
    run_task(tasks.up_all, env=ENV, region=REGION)
    env_file.write_text("protect: true\ndecommission: true\n")
    run_task(tasks.up_all, env=ENV, region=REGION)  # a deployed environment: decommissioning it is allowed


def test_without_readable_outputs_the_stack_files_say_whether_it_is_protected(deploy):
    # A layer that exports no `protected` (a failed data layer, or none at all): what the last run
    # wrote into the stack files decides.
    (deploy.root / "environments" / f"{ENV}.yaml").write_text("protect: true\n")
    run_task(tasks.up_all, env=ENV, region=REGION)
    exc = failing(tasks.down_all, env=ENV)
    assert exc.code == 2 and f"Pulumi.{ENV}.yaml says" in exc.message and deploy.calls("destroy") == []


def test_a_create_a_killed_run_left_pending_stops_the_destroy_of_that_layer_with_the_fix(deploy):
    # `pulumi destroy` ignores pending creates and `stack rm` forgets them: what they created in AWS
    # (a fixed-name Aurora cluster) would keep running and the next environment of that name collide.
    run_task(tasks.up_all, env=ENV, region=REGION)
    urn = f"urn:pulumi:{ENV}::mlapi-app::aws:rds/cluster:Cluster::app-db"
    deploy.configure(pending_creates={"mlapi-app": [urn]})
    exc = failing(tasks.down_all, env=ENV, retry_delay=0)
    assert exc.code == 1 and urn in exc.message and "--clear-pending-creates" in exc.message, exc.message
    assert "--import-pending-creates" in exc.message and f"--stack {ENV} --cwd stacks/app" in exc.message
    assert deploy.layers_of("destroy") == ["cdn"]  # app kept, and with it what it reads
    assert {f"mlapi-{n}/{ENV}" for n in ("net", "db", "app")} <= deploy.stacks()
    deploy.configure(pending_creates={})
    run_task(tasks.down_all, env=ENV, retry_delay=0)
    assert deploy.stacks() == set()


def test_down_of_one_layer_reports_a_stack_list_that_fails_without_a_traceback(deploy):
    run_task(tasks.up_all, env=ENV, region=REGION)
    deploy.configure(fail={"ls mlapi-net": {"times": -1, "message": "error: could not read the backend"}})
    exc = failing(tasks.down, layer="cdn", env=ENV)  # failing(): a DeployError, never a traceback
    assert "could not list the stacks of net" in exc.message and "could not read the backend" in exc.message
    assert deploy.calls("destroy") == []


def test_down_all_does_not_retry_a_protected_resource(deploy, monkeypatch):
    run_task(tasks.up_all, env=ENV, region=REGION)
    deploy.configure(
        fail={
            "destroy mlapi-db": {
                "times": -1,
                "message": (
                    'Preview failed: unable to delete resource "urn:pulumi:t1::mlapi-db::aws:rds/cluster:Cluster::db"\n'
                    "    as it is currently marked for protection. To unprotect the resource, remove the `protect` flag"
                ),
            }
        }
    )
    pauses: list[float] = []
    monkeypatch.setattr(orchestrator, "_sleep", pauses.append)
    exc = failing(tasks.down_all, env=ENV, attempts=3, retry_delay=5)
    assert deploy.layers_of("destroy") == ["cdn", "app", "db"] and pauses == []
    assert "db: destroy failed (1 attempt(s)): a resource is protected" in exc.message
    # Decommission, not `protect: false` (which would also drop the final snapshot, the backups and the key).
    message = " ".join(exc.message.split())
    assert f"set `decommission: true` in environments/{ENV}.yaml" in message and "protect: false" not in message
    assert f"run `invoke up-all --env {ENV}` to lift deletion protection, then `invoke down-all --env {ENV}`" in message
    assert "the final snapshot, the automated backups and the data KMS key are kept" in message
    assert "pulumi state unprotect --all" in message
    assert "net: not destroyed, because db" in exc.message


def test_down_all_does_not_retry_with_the_wrong_passphrase(deploy, monkeypatch):
    run_task(tasks.up_all, env=ENV, region=REGION)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-the-one-the-stacks-were-made-with")
    exc = failing(tasks.down_all, env=ENV, attempts=3, retry_delay=0)
    assert deploy.layers_of("destroy") == ["cdn"]
    assert "incorrect passphrase" in exc.message and "retrying cannot help" in exc.message
    assert len(deploy.stacks()) == len(ORDER)


def test_down_all_does_not_retry_with_expired_aws_credentials(deploy):
    run_task(tasks.up_all, env=ENV, region=REGION)
    deploy.configure(
        fail={
            "destroy mlapi-cdn": {"times": -1, "message": "ExpiredToken: The security token included in the request is expired"}
        }
    )
    exc = failing(tasks.down_all, env=ENV, attempts=3, retry_delay=0)
    assert len(deploy.calls("destroy")) == 1  # not retried
    assert "AWS credentials expired" in exc.message and "aws sso login" in exc.message


def test_preflight_refuses_stacks_recorded_in_different_regions(deploy):
    run_task(tasks.up_all, env=ENV, region=REGION)
    stack_file = deploy.root / "stacks" / "net" / f"Pulumi.{ENV}.yaml"
    stack_file.write_text(stack_file.read_text().replace(f"aws:region: {REGION}", "aws:region: us-west-2"))
    exc = failing(tasks.up_all, env=ENV)
    assert exc.code == 2 and "record different regions" in exc.message and "net: us-west-2" in exc.message


def test_region_flag_beats_the_environment_file_and_moving_deployed_stacks_is_refused(deploy):
    (deploy.root / "environments" / f"{ENV}.yaml").write_text("aws:region: eu-central-1\n")
    run_task(tasks.up_all, env=ENV, region=REGION)  # nothing deployed yet: --region wins
    assert all(f"aws:region={REGION}" in r["argv"] for r in deploy.calls("config set-all"))
    exc = failing(tasks.up_all, env=ENV, region="us-west-2")
    assert exc.code == 2 and f"were deployed to {REGION}" in exc.message and "would replace every resource" in exc.message


def test_preflight_refuses_a_pulumi_org_on_a_self_managed_backend(deploy, monkeypatch):
    monkeypatch.setenv("PULUMI_ORG", "acme")  # the programs would reference acme/<project>/<stack>
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    assert exc.code == 2 and "pulumiOrg is 'acme' (environment variable PULUMI_ORG)" in exc.message
    assert deploy.calls("stack select") == []


def test_ctrl_c_while_waiting_to_retry_stops_with_a_summary(deploy, monkeypatch, capsys):
    run_task(tasks.up_all, env=ENV, region=REGION)
    deploy.configure(fail={"destroy mlapi-app": {"times": -1, "message": "DependencyViolation: eni-1 in use"}})

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(orchestrator, "_sleep", ctrl_c)
    capsys.readouterr()
    exc = failing(tasks.down_all, env=ENV, attempts=3, retry_delay=5)
    out = capsys.readouterr().out
    assert exc.code == 130 and "while waiting to retry the destroy of layer app" in exc.message
    assert "no Pulumi command was running" in exc.message
    assert deploy.layers_of("destroy") == ["cdn", "app"]  # nothing after the interruption ran
    rows = {line.split()[0]: line for line in out[out.index("down-all t1: interrupted") :].splitlines()[2:] if line.strip()}
    assert "destroyed" in rows["cdn"] and "interrupted" in rows["app"] and "not run" in rows["net"]


def test_down_all_gives_up_after_its_attempts_and_says_what_is_left(deploy, capsys):
    run_task(tasks.up_all, env=ENV, region=REGION)
    deploy.configure(fail={"destroy mlapi-db": {"times": -1, "message": "DependencyViolation: eni-1 in use"}})
    exc = failing(tasks.down_all, env=ENV, attempts=2, retry_delay=0)
    assert exc.code == 1
    assert deploy.layers_of("destroy") == ["cdn", "app", "db", "db"]  # net is kept: db still reads it
    assert deploy.layers_of("stack rm") == ["cdn", "app"]
    assert "db: destroy failed after 2 attempt(s)" in exc.message and "DependencyViolation" in exc.message
    assert "net: not destroyed, because db" in exc.message
    assert f"invoke down-all --env {ENV}" in exc.message
    assert deploy.stacks() == {"mlapi-db/t1", "mlapi-net/t1"}


def test_down_all_does_not_retry_a_locked_stack(deploy):
    run_task(tasks.up_all, env=ENV, region=REGION)
    deploy.configure(locked=["mlapi-cdn/t1"])
    exc = failing(tasks.down_all, env=ENV, attempts=3, retry_delay=0)
    assert deploy.layers_of("destroy") == ["cdn"]
    assert "locked" in exc.message and "app: not destroyed" in exc.message


def test_down_all_keeps_a_stack_file_that_holds_the_teams_own_settings(deploy):
    run_task(tasks.up_all, env=ENV, region=REGION)
    run_task(tasks.down_all, env=ENV)
    flags = {r["project"]: "--preserve-config" in r["argv"] for r in deploy.calls("stack rm")}
    assert flags == {"mlapi-cdn": True, "mlapi-app": False, "mlapi-db": False, "mlapi-net": False}


def test_down_all_keep_stacks_leaves_empty_stacks(deploy):
    run_task(tasks.up_all, env=ENV, region=REGION)
    run_task(tasks.down_all, env=ENV, keep_stacks=True)
    assert deploy.calls("stack rm") == []
    assert all(v["resources"] == 0 for v in deploy.state["stacks"].values())


def test_two_environments_never_share_a_stack_and_down_all_touches_only_its_own(deploy):
    set_domain(deploy.root, "pr-1", "pr-1.acme-ml.io")
    set_domain(deploy.root, "pr-2", "pr-2.acme-ml.io")
    run_task(tasks.up_all, env="pr-1", region=REGION)
    run_task(tasks.up_all, env="pr-2", region=REGION)
    assert deploy.stacks() == {f"mlapi-{n}/{e}" for n in ORDER for e in ("pr-1", "pr-2")}
    for record in deploy.calls("config set-all"):
        stack = record["argv"][record["argv"].index("--stack") + 1]
        assert f"{record['project']}:environmentSuffix={stack}" in record["argv"]  # resource names carry the stack name
    before = len(deploy.calls())
    run_task(tasks.down_all, env="pr-1")
    assert deploy.stacks() == {f"mlapi-{n}/pr-2" for n in ORDER}
    for record in deploy.calls()[before:]:
        if record["command"] in ("destroy", "stack rm"):
            named = record["argv"][2] if record["command"] == "stack rm" else record["argv"][record["argv"].index("--stack") + 1]
            assert named == "pr-1"


def test_ci_cleanup_from_a_fresh_checkout_reaches_kms_encrypted_stacks(deploy, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    kms = "awskms://alias/mlapi?region=eu-west-1"
    run_task(tasks.up_all, env=ENV, region=REGION, secrets_provider=kms)
    for name in ORDER:  # the cleanup job's clone has no Pulumi.<env>.yaml (the deploy job wrote them)
        (deploy.root / "stacks" / name / f"Pulumi.{ENV}.yaml").unlink(missing_ok=True)
    before = len(deploy.calls())
    exc = failing(tasks.down_all, env=ENV)
    assert exc.code == 2 and "PULUMI_CONFIG_PASSPHRASE is not set" in exc.message and "--secrets-provider" in exc.message
    assert all(r["command"] == "version" for r in deploy.calls()[before:])

    run_task(tasks.down_all, env=ENV, secrets_provider=kms)
    assert deploy.stacks() == set() and deploy.layers_of("destroy") == list(reversed(ORDER))
    # The CLI is told to use the provider recorded in each stack's state, not a default passphrase.
    assert {r["env"]["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] for r in deploy.calls("destroy")} == {"true"}


def test_ci_cleanup_from_a_fresh_checkout_with_a_passphrase(deploy):
    run_task(tasks.up_all, env=ENV, region=REGION)
    for name in ORDER:
        (deploy.root / "stacks" / name / f"Pulumi.{ENV}.yaml").unlink(missing_ok=True)
    run_task(tasks.down_all, env=ENV)
    assert deploy.stacks() == set()


def test_a_setting_fixed_once_deployed_is_refused_before_anything_changes(deploy, capsys):
    # Changing the VPC's CIDR replaces the VPC every other layer is built in: it fails halfway
    # (security groups in use, Aurora cannot move). Refused up front, shown by a preview.
    deploy.configure(outputs={"mlapi-net": {"vpcCidr": "10.0.0.0/16"}})
    run_task(tasks.up_all, env=ENV, region=REGION)
    stack_file = deploy.root / "stacks" / "net" / f"Pulumi.{ENV}.yaml"
    data = yaml.safe_load(stack_file.read_text())
    data["config"]["mlapi-net:vpcCidr"] = "10.1.0.0/16"
    stack_file.write_text(yaml.safe_dump(data))
    ups = len(deploy.calls("up"))
    for task, args in ((tasks.up_all, {}), (tasks.up, {"layer": "net"})):
        exc = failing(task, env=ENV, region=REGION, **args)
        assert exc.code == 2 and "mlapi-net:vpcCidr is '10.1.0.0/16'" in exc.message, exc.message
        assert "deployed with '10.0.0.0/16'" in exc.message and "fixed once deployed" in exc.message
    assert len(deploy.calls("up")) == ups  # nothing was deployed
    capsys.readouterr()
    run_task(tasks.preview, layer="net", env=ENV, region=REGION)
    assert "An up would be refused" in capsys.readouterr().out
    data["config"]["mlapi-net:vpcCidr"] = "10.0.0.0/16"
    stack_file.write_text(yaml.safe_dump(data))
    run_task(tasks.up_all, env=ENV, region=REGION)  # set back: deploys again


def test_a_stepped_setting_may_stay_or_grow_by_one_only(deploy, capsys):
    # The origin secret's version: a step of 2 (or back) replaces both values the web ACL accepts,
    # and CloudFront's requests are refused until it has deployed the new one.
    deploy.configure(outputs={"mlapi-cdn": {"secretVersion": 1}})
    set_domain(deploy.root)
    run_task(tasks.up_all, env=ENV, region=REGION)
    stack_file = deploy.root / "stacks" / "cdn" / f"Pulumi.{ENV}.yaml"
    data = yaml.safe_load(stack_file.read_text())
    for bad in ("3", "0"):
        data["config"]["mlapi-cdn:secretVersion"] = bad
        stack_file.write_text(yaml.safe_dump(data))
        exc = failing(tasks.up, layer="cdn", env=ENV, region=REGION)
        assert exc.code == 2 and "grow by exactly 1" in exc.message and "Set it to 2" in exc.message, exc.message
    data["config"]["mlapi-cdn:secretVersion"] = "2"
    stack_file.write_text(yaml.safe_dump(data))
    run_task(tasks.up, layer="cdn", env=ENV, region=REGION)


def test_the_real_network_fixes_what_a_change_would_replace_under_every_layer():
    # vpcCidr replaces the VPC; the service ports replace target groups whose fixed names refuse
    # Pulumi's create-before-delete. Each must be an output, or the check has nothing to compare.
    network = manifest.by_name("network")
    assert {setting for setting, _ in network.fixed} == {"vpcCidr", "servicePort", "paymentsServicePort"}
    assert {output for _, output in network.fixed} <= set(contracts.CONTRACTS["network"])
    edge = manifest.by_name("edge")
    assert edge.stepped == (("originSecretVersion", "originSecretVersion"),)
    assert "originSecretVersion" in contracts.CONTRACTS["edge"]


def test_down_refuses_while_a_dependent_has_a_stack_unless_forced(deploy):
    run_task(tasks.up_all, env=ENV, region=REGION)
    exc = failing(tasks.down, layer="net", env=ENV)
    assert exc.code == 2 and "db, app read(s) it" in exc.message and "--force" in exc.message
    assert deploy.calls("destroy") == []
    run_task(tasks.down, layer="cdn", env=ENV)
    run_task(tasks.down, layer="net", env=ENV, force=True)
    assert deploy.layers_of("destroy") == ["cdn", "net"]
    run_task(tasks.down, layer="cdn", env=ENV)  # already gone: nothing to do
    assert deploy.layers_of("destroy") == ["cdn", "net"]


# -- per-layer up, preview, refresh --------------------------------------------------------------------


def test_preview_and_up_refuse_until_the_upstream_stacks_exist(deploy):
    exc = failing(tasks.preview, layer="app", env=ENV, region=REGION)
    assert exc.code == 2 and "it reads net, db" in exc.message and f"invoke plan --env {ENV}" in exc.message
    exc = failing(tasks.up, layer="db", env=ENV, region=REGION)
    assert "cannot deploy db" in exc.message and f"invoke up --layer net --env {ENV}" in exc.message
    assert deploy.calls("stack select") == []

    run_task(tasks.up, layer="net", env=ENV, region=REGION)
    run_task(tasks.up, layer="db", env=ENV, region=REGION)
    run_task(tasks.preview, layer="app", env=ENV, region=REGION)
    preview = deploy.calls("preview")
    assert [r["project"] for r in preview] == ["mlapi-app"]
    assert preview[0]["argv"][:3] == ["preview", "--stack", ENV]
    assert deploy.layers_of("up") == ["net", "db"]


def test_an_upstream_stack_that_was_never_deployed_counts_as_missing(deploy):
    run_task(tasks.preview, layer="net", env=ENV, region=REGION)  # creates net's stack, deploys nothing
    assert deploy.stacks() == {"mlapi-net/t1"}
    exc = failing(tasks.up, layer="db", env=ENV, region=REGION)
    assert exc.code == 2 and "it reads net" in exc.message
    assert deploy.layers_of("up") == []


def test_unknown_layer_is_refused_with_the_list(deploy):
    exc = failing(tasks.up, layer="nope", env=ENV, region=REGION)
    assert "unknown layer 'nope'" in exc.message and "net, db, app, cdn" in exc.message


def test_refresh_needs_the_stack_and_runs_non_interactively(deploy):
    exc = failing(tasks.refresh, layer="net", env=ENV)
    assert "no stack t1" in exc.message and exc.code == 2  # refused: nothing was touched
    run_task(tasks.up, layer="net", env=ENV, region=REGION)
    run_task(tasks.refresh, layer="net", env=ENV)
    (call,) = deploy.calls("refresh")
    assert {"--yes", "--non-interactive", "--skip-preview"} <= set(call["argv"])


# -- outputs -------------------------------------------------------------------------------------------


def test_outputs_are_flattened_redacted_and_collisions_namespaced(deploy, capsys):
    deploy.configure(
        outputs={
            "mlapi-net": {"vpcId": "vpc-123", "databasePort": 5432, "privateSubnetIds": ["subnet-a", "subnet-b"]},
            "mlapi-db": {
                "databasePort": 5432,
                "clusterEndpoint": "db.cluster.local",
                "masterPassword": {"secret": "hunter2-db-pass"},
            },
            "mlapi-app": {"albDnsName": "alb-1.elb.amazonaws.com", "port": 8080},
            "mlapi-cdn": {"port": 443},
        }
    )
    run_task(tasks.up_all, env=ENV, region=REGION)
    target = deploy.root / "cfn-outputs" / "flat-outputs.json"
    run_task(tasks.outputs, env=ENV, out=str(target))
    text = target.read_text()
    flat = json.loads(text)

    assert flat["albDnsName"] == "alb-1.elb.amazonaws.com" and flat["app.albDnsName"] == flat["albDnsName"]
    assert flat["privateSubnetIds"] == ["subnet-a", "subnet-b"]
    assert flat["databasePort"] == 5432  # two layers, one value: the plain name stays
    assert "port" not in flat and flat["app.port"] == 8080 and flat["cdn.port"] == 443
    assert flat["masterPassword"] == "[secret]" and "hunter2" not in text
    assert not any("--show-secrets" in r["argv"] for r in deploy.calls())
    assert "only app.port, cdn.port are written" in capsys.readouterr().out


def test_outputs_skip_missing_layers_and_refuse_an_empty_environment(deploy, monkeypatch):
    exc = failing(tasks.outputs, env=ENV, out=str(deploy.root / "o.json"))
    assert "nothing to write" in exc.message and exc.code == 2 and not (deploy.root / "o.json").exists()
    deploy.configure(outputs={"mlapi-net": {"vpcId": "vpc-9"}})
    run_task(tasks.up, layer="net", env=ENV, region=REGION)
    # Reading outputs needs the state, not AWS: it works with no AWS credentials at all.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    run_task(tasks.outputs, env=ENV, out=str(deploy.root / "o.json"))
    # plain and snake_case names too (the seeds' integration tests read vpc_id)
    assert json.loads((deploy.root / "o.json").read_text()) == {"net.vpcId": "vpc-9", "vpcId": "vpc-9", "vpc_id": "vpc-9"}


def test_default_state_and_outputs_live_in_git_ignored_directories():
    from shared.deploy import outputs as deploy_outputs

    backend = deploy_cli.backend_for({})
    assert backend.url == (ROOT / ".pulumi-state").as_uri() and backend.is_local_file and not backend.chosen_by_user
    assert deploy_outputs.DEFAULT_PATH == ROOT / "cfn-outputs" / "flat-outputs.json"
    for path in (ROOT / ".pulumi-state" / "x", deploy_outputs.DEFAULT_PATH):
        assert subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT).returncode == 0, f"{path} is not git-ignored"


def test_redact_replaces_pulumi_secret_envelopes_anywhere():
    envelope = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cr3t"}
    assert redact({"a": [envelope, 1], "b": envelope}) == {"a": ["[secret]", 1], "b": "[secret]"}
    assert flatten({"x": {"k": 1}, "y": {"k": 2}}).ambiguous == {"k": ["x.k", "y.k"]}


# -- Ctrl-C ---------------------------------------------------------------------------------------------


def write_driver(tmp: Path, *, graph: Any = None, task: str = "up_all", **arguments: Any) -> Path:
    """A driver script for a Ctrl-C test: a real process that runs ``tasks.<task>`` over the fake
    layers (``graph``: another FAKE_LAYERS) under ``tmp``, as a user's terminal would (see :func:`drive`)."""
    arguments = arguments or {"env": ENV, "region": REGION}
    driver = tmp / "driver.py"
    driver.write_text(
        f"import sys\nsys.path[:0] = [{str(TESTS)!r}, {str(ROOT)!r}]\nimport test_deploy\n"
        f"test_deploy.drive({str(tmp)!r}, graph={graph!r}, task={task!r}, arguments={arguments!r})\n"
    )
    return driver


def drive(tmp: str, *, graph: Any, task: str, arguments: dict[str, Any]) -> None:
    """In a driver process: the fake layers under ``tmp``, each handled signal recorded, pre-flight's
    AWS reads answered offline; then the task, ending as the invoke command would (its message on
    stderr, its exit code)."""
    root = Path(tmp)
    for obj, name, value in patch_targets(root, graph):
        setattr(obj, name, value)
    set_domain(root)
    record_handled_signals(root / "handled-signals")
    answer_aws_checks_offline()
    try:
        getattr(tasks, task)(Context(), **arguments)
    except Exit as exc:
        print(exc.message, file=sys.stderr)
        sys.exit(exc.code)


def answer_aws_checks_offline() -> None:
    """In a Ctrl-C driver: pre-flight's two AWS reads (whose credentials, account preconditions)
    answer at once, without moto. The drivers prove what a real process does with signals; pre-flight
    against AWS (moto) is the in-process tests' subject. Importing moto and running those reads cost
    each driver 0.4-0.5 s of CPU."""

    def whose(pre: preflight.Preflight) -> None:
        pre.account = "123456789012"
        pre.facts.append("AWS account 123456789012 (a test driver: the AWS checks are not run)")

    preflight.check_aws = whose  # type: ignore[assignment]
    preflight.check_account = lambda pre, service_layers: None  # type: ignore[assignment]


def start_driver(driver: Path) -> subprocess.Popen[str]:
    """Run a driver script in its own session, like a terminal's foreground job: `os.killpg` on
    it is then the user's Ctrl-C."""
    return subprocess.Popen(
        [sys.executable, str(driver)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def record_handled_signals(path: Path) -> None:
    """In a driver: every signal handler the code under test installs appends the signal's number
    to ``path`` once it has returned (or raised), so a test knows a Ctrl-C has been handled (and
    forwarded or not) without waiting a fixed time. What the handler does is unchanged."""
    install = signal.signal

    def recording(signum: int, handler: Any) -> Any:
        if callable(handler) and not getattr(handler, "records_handling", False):
            inner = handler

            def handler(number: int, frame: Any) -> Any:
                try:
                    return inner(number, frame)
                finally:
                    with open(path, "a") as handled:
                        handled.write(f"{number}\n")

            handler.records_handling = True  # type: ignore[attr-defined]
        return install(signum, handler)

    signal.signal = recording  # type: ignore[assignment]


def wait_until(proc: subprocess.Popen[str], condition: Callable[[], bool], what: str) -> None:
    """Wait (at most 120 s) until ``condition()`` holds, failing with the driver's output if the
    driver exits first."""
    deadline = time.time() + 120
    while not condition() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert condition(), (what, proc.communicate() if proc.poll() is not None else "still running")


def sigints_handled(path: Path) -> int:
    """How many SIGINTs the driver's handlers have returned from (``record_handled_signals``)."""
    return path.read_text().splitlines().count(str(int(signal.SIGINT))) if path.exists() else 0


# After the driver has handled the second Ctrl-C, the engine goes on cancelling this long before it
# is released: a second SIGINT forwarded not by the handler itself but a little later (the parallel
# loop's next turn, at most 0.25 s on) still reaches it and is counted.
GRACE_AFTER_SECOND_CTRL_C = 0.5


def wait_until_ready(proc: subprocess.Popen[str], state_path: Path) -> None:
    """Wait until the stand-in says a hanging command has started."""
    ready = Path(str(state_path) + ".ready")
    wait_until(proc, ready.exists, "the hanging command started")


def interrupt_twice(proc: subprocess.Popen[str], state_path: Path, handled: Path, released: Path) -> None:
    """The user's Ctrl-C, and an impatient second one while the engine cancels: the second is sent
    once the engine has received the first, and the cancel ends (``released``) only after the
    driver's handler has returned from the second and a grace period has passed, so a second SIGINT
    forwarded by mistake (by the handler or up to the grace later) has reached the engine and been
    counted. A forward deferred longer than that (say, to the CLI's next output line) is not caught;
    the fixed 1.5 s cancel window this replaced did not catch that either."""
    counter = Path(str(state_path) + ".sigint")
    os.killpg(proc.pid, signal.SIGINT)
    wait_until(proc, lambda: counter.exists() and counter.read_text() == "1", "the engine received the first Ctrl-C")
    os.killpg(proc.pid, signal.SIGINT)
    wait_until(proc, lambda: sigints_handled(handled) >= 2, "the driver handled the second Ctrl-C")
    time.sleep(GRACE_AFTER_SECOND_CTRL_C)
    released.write_text("")


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT semantics are POSIX")
def test_ctrl_c_is_forwarded_once_and_the_engine_is_waited_for(standin, tmp_path):
    released = tmp_path / "cancel-released"
    standin.configure(hang="up mlapi-net", cancel_until=str(released))
    proc = start_driver(write_driver(tmp_path))
    try:
        wait_until_ready(proc, standin.state_path)
        interrupt_twice(proc, standin.state_path, tmp_path / "handled-signals", released)  # the second must not reach the engine
        out, err = proc.communicate(timeout=60)
    finally:
        released.write_text("")  # the stand-in (its own session) never goes on cancelling after a failure
        if proc.poll() is None:
            proc.kill()

    assert Path(str(standin.state_path) + ".sigint").read_text() == "1"
    assert proc.returncode == 130, err
    assert "cancelling the update" in out  # we waited for the engine to finish cancelling
    assert "asked the Pulumi engine to cancel" in out
    assert "interrupted during `pulumi up" in err and "layer net" in err
    assert standin.layers_of("up") == ["net"]


# -- the CLI wrapper's parsing ------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_ctrl_c_while_the_cli_is_starting_is_forwarded_once_it_runs():
    guard = deploy_cli._InterruptForwarder()
    with guard:
        os.kill(os.getpid(), signal.SIGINT)  # arrives before the CLI exists: counted, not lost
        deadline = time.time() + 5
        while not guard.count and time.time() < deadline:
            time.sleep(0.01)
        proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
        guard.attach(proc)
        code = proc.wait(timeout=10)
    assert guard.count == 1 and code == -signal.SIGINT
    assert signal.getsignal(signal.SIGINT) != guard._handle  # handlers restored


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_closed_terminal_asks_the_cli_to_cancel_instead_of_leaving_it_to_die():
    # SIGHUP (the terminal or SSH session went away) is forwarded as the one SIGINT the engine
    # cancels on, like Ctrl-C; without a handler it would end this process at once.
    guard = deploy_cli._InterruptForwarder()
    with guard:
        proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
        guard.attach(proc)
        os.kill(os.getpid(), signal.SIGHUP)
        code = proc.wait(timeout=10)
    assert guard.count == 1 and code == -signal.SIGINT
    assert signal.getsignal(signal.SIGHUP) != guard._handle  # handlers restored


def test_fix_hints_on_pulumi_cloud_name_the_environment_for_tasks_and_the_org_stack_for_the_cli(tmp_path):
    protected = deploy_cli.Result(["destroy"], 1, "", "error: deleting: OperationNotPermitted: deletion protection is enabled")
    fix = deploy_cli.permanent_failure(protected, stack="acme/t1", layer_dir=tmp_path / "db", env="t1")
    assert fix and "environments/t1.yaml" in fix and "invoke up-all --env t1" in fix and "--stack acme/t1" in fix
    locked = deploy_cli.Result(["up"], 255, "", "error: the stack is currently locked by 1 lock(s)")
    text = deploy_cli.describe_lock(
        locked, deploy_cli.Backend("https://api.pulumi.com", True), tmp_path / "db", "acme/t1", env="t1"
    )
    assert "--stack acme/t1" in text and "invoke refresh --layer db --env t1" in text and "--env acme/t1" not in text


def test_error_lines_and_lock_detection_ignore_colour_codes():
    coloured = deploy_cli.Result(
        ["up"],
        255,
        "Updating (t1)\n\x1b[31merror: \x1b[0mthe stack is currently locked by 1 lock(s).\n  file:///s/.pulumi/locks/x.json: created by a@b (pid 1)\n",
    )
    assert coloured.locked
    assert coloured.error_lines() == [
        "error: the stack is currently locked by 1 lock(s).",
        "file:///s/.pulumi/locks/x.json: created by a@b (pid 1)",
    ]
    quiet = deploy_cli.Result(["destroy"], 1, "\n".join(f"line {i}" for i in range(20)))
    assert not quiet.locked and quiet.error_lines() == [f"line {i}" for i in range(12, 20)]


def test_the_launcher_process_and_the_in_process_stand_in_record_the_same_deploy(tmp_path, monkeypatch, capsys):
    """The deploy tests run the stand-in in threads (tests/standin_inproc.py). The same up-all and
    down-all through the real launcher (PATH lookup, a process per call, streamed pipes) must leave
    the same records, output, stack files and state, and the in-process calls must have been given
    what a process is given."""
    from moto import mock_aws

    seen: dict[str, dict[str, Any]] = {}
    for mode in ("process", "in-process"):
        root = tmp_path / mode
        root.mkdir()
        with monkeypatch.context() as patch, mock_aws():
            s = prepare_standin(root, patch, in_process=mode == "in-process")
            assert (deploy_cli.subprocess is subprocess) == (mode == "process")
            capsys.readouterr()
            run_task(tasks.up_all, env=ENV, region=REGION)
            run_task(tasks.down_all, env=ENV, keep_stacks=True)
            out = capsys.readouterr().out

            def same(text: str, root: Path = root) -> str:
                text = re.sub(r'"(startTime|endTime)": [\d.]+', r'"\1": "<t>"', text)  # history entries' times
                return re.sub(r"\b\d+\.\ds\b", "<s>", text.replace(str(root), "<root>"))

            seen[mode] = {
                "calls": json.loads(same(json.dumps(s.calls()))),
                "out": same(out),
                "stack files": {
                    p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.glob("stacks/*/Pulumi.*.yaml"))
                },
                "state": json.loads(same(s.state_path.read_text())),
            }
            if s.inproc is not None:
                seen[mode]["runs"] = s.inproc.runs

    real, inproc = seen["process"], seen["in-process"]
    assert [c["command"] for c in real["calls"]].count("up") == len(ORDER)
    assert [c["command"] for c in real["calls"]].count("destroy") == len(ORDER)
    for key in ("calls", "out", "stack files", "state"):
        assert inproc[key] == real[key], key
    assert "[db] Updating (t1)" in inproc["out"]  # streamed line by line with the layer's prefix
    # Every call ran in-process, given the launcher PATH resolved to and a process's wiring.
    runs = inproc["runs"]
    launcher = str(tmp_path / "in-process" / "bin" / "pulumi")
    assert len(runs) == len(inproc["calls"])
    assert [run.args[1:] for run in runs] == [
        [a.replace("<root>", str(tmp_path / "in-process")) for a in c["argv"]] for c in inproc["calls"]
    ]
    assert all(run.args[0] == launcher and run.stdin == subprocess.DEVNULL and run.returncode == 0 for run in runs)
    engine = [run for run in runs if run.args[1] != "version"]  # the pre-flight's version check is the other
    assert engine and all(run.cwd == str(ROOT) and run.start_new_session for run in engine)


def test_the_standin_rejects_what_the_real_cli_rejects(standin):
    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(standin.bin / "pulumi"), *argv], capture_output=True, text=True, env=dict(os.environ))

    cwd = str(standin.root / "stacks" / "net")
    assert run("stack", "select", "--create", "--stack", ENV, "--cwd", cwd, "--non-interactive").returncode == 0
    bogus = run("up", "--stack", ENV, "--cwd", cwd, "--yes", "--no-such-flag")
    assert bogus.returncode == 255 and "unknown flag: --no-such-flag" in bogus.stderr
    no_yes = run("destroy", "--stack", ENV, "--cwd", cwd, "--non-interactive")
    assert no_yes.returncode == 255 and "--yes or --skip-preview must be passed" in no_yes.stderr
    assert "--yes must be passed" in run("stack", "rm", ENV, "--cwd", cwd).stderr
    listed = json.loads(run("stack", "ls", "--json", "--cwd", cwd).stdout)
    assert listed == [{"name": ENV, "current": False}]  # never updated: no resourceCount, as the CLI prints it


def test_scrubber_hides_the_passphrase_from_its_file_and_every_secret_variable(tmp_path):
    secret_file = tmp_path / "passphrase"
    secret_file.write_text("from-a-file-phrase\n")
    scrub = deploy_cli.Scrubber(
        {
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(secret_file),
            "AWS_SESSION_TOKEN": "tok-123456",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENG",
        }
    )
    assert scrub("x from-a-file-phrase y tok-123456 z wJalrXUtnFEMIK7MDENG") == "x *** y *** z ***"
    assert deploy_cli.parse_version("v3.130.0\n") == (3, 130, 0) and deploy_cli.parse_version("garbage") is None
