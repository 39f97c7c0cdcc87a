"""The offline plan engine and document (format 1, docs/plan-format.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, TASK_ENV_UNSET

from shared import contracts, manifest
from shared.errors import ConfigError
from shared.plan.document import build_plan

# `python -m invoke`, run as -m runs it, after one hook: the parallel renderer's choice of start
# method is printed to stderr, so the test sees which path the process rendered through.
_REPORT_START_METHOD = """
import runpy, sys
from shared.plan import parallel
choose = parallel._context
def reported():
    context = choose()
    print(f"layer processes: {context.get_start_method()}", file=sys.stderr)
    return context
parallel._context = reported
sys.argv = ["invoke", *sys.argv[1:]]
runpy.run_module("invoke", run_name="__main__", alter_sys=True)
"""


def invoke_process(*args: str) -> subprocess.CompletedProcess:
    """A real `python -m invoke <args>` process from the repository root (the other tests use the
    in-process ``run_invoke`` fixture, tests/conftest.py); it reports the start method of its layer
    processes on stderr when it renders in parallel."""
    environ = {k: v for k, v in os.environ.items() if k not in TASK_ENV_UNSET}
    return subprocess.run(
        [sys.executable, "-c", _REPORT_START_METHOD, *args], cwd=ROOT, capture_output=True, text=True, env=environ, timeout=300
    )


def test_document_has_format_1_keys(default_plan):
    doc = default_plan.document()
    assert doc["format"] == 1 and doc["environment"] == "demo" and doc["region"] == "us-east-1"
    assert [lyr["layer"] for lyr in doc["layers"]] == [lyr.name for lyr in manifest.ordered()]
    for layer in doc["layers"]:
        assert set(layer) >= {"layer", "project", "stack", "dependsOn", "stackReferences", "resources", "outputs"}
        assert layer["stack"] == f"organization/{layer['project']}/demo"
        for res in layer["resources"]:
            assert set(res) >= {"urn", "type", "name", "parent", "provider", "inputs"}
            assert res["urn"].startswith(f"urn:pulumi:demo::{layer['project']}::")
        types = {r["type"] for r in layer["resources"]}
        assert "pulumi:providers:aws" in types
        urns = {r["urn"] for r in layer["resources"]}
        assert all(r["parent"] in urns for r in layer["resources"] if r["parent"])


def test_layers_render_in_dependency_order_with_stack_references_wired(default_plan):
    seen: set[str] = set()
    for lp in default_plan.layers:
        assert set(lp.layer.reads) <= seen, f"{lp.layer.name} rendered before what it reads"
        expected = sorted(f"organization/{manifest.by_name(u).project}/demo" for u in lp.layer.reads)
        assert sorted(lp.rendered.stack_references) == expected
        refs = lp.rendered.of_type("pulumi:pulumi:StackReference")
        assert sorted(r.name for r in refs) == expected
        seen.add(lp.layer.name)


def test_every_layer_exports_exactly_its_contract(default_plan):
    for lp in default_plan.layers:
        assert set(lp.rendered.outputs) == set(contracts.CONTRACTS[lp.layer.name])


def test_mock_identifiers_look_real(default_plan):
    network = default_plan.layers[0].rendered
    assert re.fullmatch(r"vpc-0[0-9a-f]{16}", network.outputs["vpcId"])
    assert all(re.fullmatch(r"subnet-0[0-9a-f]{16}", s) for s in network.outputs["privateSubnetIds"])
    key = network.one("aws:kms/key:Key")
    assert re.fullmatch(r"arn:aws:kms:us-east-1:\d{12}:key/[0-9a-f-]{36}", key.state["arn"])


def test_cli_writes_document_and_two_runs_are_identical(tmp_path, run_invoke, default_plan):
    """A real `python -m invoke plan` process, the in-process runner the other task tests use (so
    those see what the command line does) and build_plan write the same bytes. The process runs no
    other thread, so its layer processes are forked from it (test_plan_speed.py tests the choice):
    this is the fork path of the parallel renderer; test_parallel.py covers the forkserver's."""
    first, second, expected = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "expected.json"
    args = ("plan", "--env", "demo", "--region", "us-east-1")
    runs = (invoke_process(*args, "--parallel", "true", "--out", str(first)), run_invoke(*args, "--out", str(second)))
    for result in runs:
        assert result.returncode == 0, result.stderr
        assert "nothing was deployed" in result.stdout and "[network]" in result.stdout
    assert "layer processes: fork" in runs[0].stderr  # the fork path, not the forkserver
    default_plan.write(expected)
    assert first.read_bytes() == second.read_bytes() == expected.read_bytes()
    doc = json.loads(first.read_text())
    assert doc["region"] == "us-east-1"


@pytest.mark.parametrize(
    "args,setting",
    [
        (["--env", "Bad_Suffix"], "--env"),
        (["--env", "this-suffix-is-far-too-long"], "--env"),
        (["--env", "demo", "--region", "moon-1"], "--region"),
    ],
)
def test_bad_input_exits_non_zero_with_one_paragraph_and_no_file(tmp_path, run_invoke, args, setting):
    out = tmp_path / "plan.json"
    result = run_invoke("plan", *args, "--out", str(out))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert setting in result.stderr and "Invalid setting" in result.stderr
    assert not out.exists()


def test_bad_config_in_stack_file_exits_cleanly(checkout, tmp_path, run_invoke):
    checkout.stack_file("network", "cfgtest").write_text("config:\n  mlapi-network:vpcCidr: 10.0.0.0/33\n")
    out = tmp_path / "plan.json"
    result = run_invoke("plan", "--env", "cfgtest", "--out", str(out))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "mlapi-network:vpcCidr" in result.stderr and "10.0.0.0/33" in result.stderr
    assert not out.exists()


def test_unknown_key_in_stack_file_is_refused(checkout):
    checkout.stack_file("network", "typo").write_text("config:\n  mlapi-network:vpcCdir: 10.1.0.0/16\n")
    with pytest.raises(ConfigError, match=r"vpcCdir.*not a setting of the network layer"):
        build_plan("typo", "us-east-1")


def test_stack_file_config_is_used_and_secure_values_are_redacted(checkout):
    stack_file = checkout.stack_file("network", "cfguse")
    stack_file.write_text("config:\n  mlapi-network:vpcCidr: 10.42.0.0/16\n  aws:accessKey:\n    secure: AAABAKxyz\n")
    plan = build_plan("cfguse", "us-east-1", layers=[manifest.by_name("network")])
    network = plan.layers[0]
    assert network.rendered.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"] == "10.42.0.0/16"
    assert "Pulumi.cfguse.yaml" in " ".join(network.config_sources)
    assert "AAABAKxyz" not in json.dumps(plan.document())


def test_environment_file_applies_to_every_layer(checkout):
    checkout.environment_file("envfile").write_text("team: data-science\ncostCenter: cc-7\n")
    plan = build_plan("envfile", "us-east-1")
    for lp in plan.layers:
        tags = json.loads(lp.rendered.of_type("pulumi:providers:aws")[0].inputs["defaultTags"])["tags"]
        assert tags["Team"] == "data-science" and tags["CostCenter"] == "cc-7"


def test_plan_renders_the_region_the_environment_file_deploys_to(checkout, tmp_path, run_invoke):
    # One layer is enough to see which region was rendered (the whole environment takes seconds).
    checkout.environment_file("regionfile").write_text("aws:region: eu-west-1\nlayers: [network]\n")
    out = tmp_path / "plan.json"
    quiet = {"AWS_REGION": "ap-southeast-2", "AWS_DEFAULT_REGION": "ap-southeast-2"}
    from_file = run_invoke("plan", "--env", "regionfile", "--out", str(out), "--quiet", env=quiet)
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(out.read_text())["region"] == "eu-west-1"  # the file beats AWS_REGION
    flagged = run_invoke("plan", "--env", "regionfile", "--region", "us-west-2", "--out", str(out), "--quiet", env=quiet)
    assert flagged.returncode == 0, flagged.stderr
    assert json.loads(out.read_text())["region"] == "us-west-2"  # --region beats the file


def test_secret_outputs_and_inputs_are_redacted():
    import pulumi

    from shared.plan.engine import render_program

    def program():
        import pulumi_aws as aws

        aws.ssm.Parameter("p", type="SecureString", value=pulumi.Output.secret("hunter2"))
        pulumi.export("token", pulumi.Output.secret("s3cr3t"))
        pulumi.export("plain", "visible")

    rendered = render_program(program, project="mlapi-test", stack="t", region="us-east-1")
    assert rendered.outputs == {"plain": "visible", "token": "[secret]"}
    assert rendered.one("aws:ssm/parameter:Parameter").inputs["value"] == "[secret]"


def test_decommission_in_the_environment_file_lifts_every_deletion_guard_and_keeps_the_data(checkout):
    """`protect: true` + `decommission: true` in environments/<env>.yaml, as `up-all` deploys it
    before `down-all`: nothing in any layer refuses deletion any more, and the data is still kept."""
    checkout.environment_file("decomenv").write_text("protect: true\ndecommission: true\n")
    plan = build_plan("decomenv", "us-east-1")
    doc = plan.document()
    assert doc["protected"] is True and doc["decommissioning"] is True
    assert all(layer["protected"] and layer["decommissioning"] for layer in doc["layers"])
    assert "Mode: decommissioning" in plan.summary()
    regs = {lp.layer.name: lp.rendered for lp in plan.layers}
    every = [reg for rendered in regs.values() for reg in rendered.registrations]

    def of(type_token: str) -> list:
        found = [r for r in every if r.type == type_token]
        assert found, type_token
        return found

    # Nothing refuses deletion...
    assert all(r.inputs["deletionProtection"] is False for r in of("aws:rds/cluster:Cluster"))
    assert all(r.inputs["deletionProtectionEnabled"] is False for r in of("aws:dynamodb/table:Table"))
    assert all(r.inputs["enableDeletionProtection"] is False for r in of("aws:lb/loadBalancer:LoadBalancer"))
    assert all(r.inputs["forceDelete"] is True for r in of("aws:ecr/repository:Repository"))
    assert all(r.inputs["forceDestroy"] is True for r in of("aws:s3/bucket:Bucket"))
    # ...and what keeps the data stays: final snapshot, automated backups, the data key.
    (cluster,) = of("aws:rds/cluster:Cluster")
    assert cluster.inputs["skipFinalSnapshot"] is False and cluster.inputs["deleteAutomatedBackups"] is False
    assert re.fullmatch(r"mlapi-aurora-final-decomenv-[0-9a-f]{8}", cluster.inputs["finalSnapshotIdentifier"])
    retained = {r.name for r in every if r.retain_on_delete}
    assert retained == {"data-key-key"}, retained  # the key of the snapshot, not the log-only keys
    assert regs["data"].one("aws:kms/key:Key").state["arn"] == cluster.inputs["kmsKeyId"]
    assert regs["data"].outputs["decommissioning"] is True
