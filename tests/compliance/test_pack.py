"""The same rules through the policy pack's adapters, and the real pack over gRPC."""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest
from conftest import ROOT
from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UnknownValueError, unknown_checking_proxy

from shared.aws_types import (
    DYNAMODB_TABLE,
    FLOW_LOG,
    KMS_KEY,
    LB,
    SECURITY_GROUP,
    STACK,
    VPC,
)
from shared.compliance import REGISTRY, Status, by_id
from shared.compliance.model import Environment
from shared.compliance.pack import build_policies, environment
from shared.compliance.plan_view import view_from_document
from shared.compliance.runner import run

from .cases import (
    CASES,
    MUTATIONS,
)
from .support import (
    ENV,
    KEY_ARN,
    LB_ARN,
    LIFTED_WHILE_DECOMMISSIONING,
    NOTHING,
    PACK_CROSS_STACK,
    PACK_NOT_JUDGED,
    PackRecorder,
    _config,
    _pack_over_layers,
    _policy,
    _run_pack,
    res,
    resource_args,
    stack_resource,
)


@pytest.mark.parametrize("rule_id", list(CASES))
def test_the_policy_pack_judges_the_same_fragments_through_its_adapters(rule_id):
    good, bad, expected, protect = CASES[rule_id]
    found, _ = _run_pack(rule_id, good, protect)
    assert found == []
    found, reason = _run_pack(rule_id, bad, protect)
    if rule_id in PACK_NOT_JUDGED:
        assert found == [] and reason and "invoke check" in reason
    else:
        assert found and any(expected in f for f in found), found
        assert all(by_id(rule_id).fix in f for f in found)


def test_the_pack_waives_protected_only_rules_for_an_ephemeral_stack_with_the_reason():
    found, reason = _run_pack("dynamodb-deletion-protection", CASES["dynamodb-deletion-protection"][1], protect=False)
    assert found == [] and "ephemeral environment (protect=false, from stack config mlapi-data:protect)" in reason


@pytest.mark.parametrize("rule_id", sorted(LIFTED_WHILE_DECOMMISSIONING))
def test_the_pack_waives_deletion_protection_for_a_decommissioning_stack_with_the_reason(rule_id):
    bad = CASES[rule_id][1]
    assert _run_pack(rule_id, bad, protect=True)[0], "a protected stack must still be refused"
    found, reason = _run_pack(rule_id, bad, protect=True, decommission=True)
    layer = bad[0]["layer"]
    assert found == [] and reason and "decommissioning environment" in reason, reason
    assert f"decommission=true, from stack config mlapi-{layer}:decommission" in reason


def test_the_pack_still_requires_the_final_snapshot_and_destroyability_while_decommissioning():
    found, _ = _run_pack("aurora-final-snapshot", CASES["aurora-final-snapshot"][1], protect=True, decommission=True)
    assert found and "loses its data" in found[0]
    found, _ = _run_pack("ephemeral-destroyable", CASES["ephemeral-destroyable"][1], protect=True, decommission=True)
    assert found and "`pulumi destroy` fails" in found[0]


def test_the_pack_reads_decommission_from_the_stack_config_only():
    urn = "urn:pulumi:prod::mlapi-data::aws:dynamodb/table:Table::t"
    stack_says = {"mlapi-data:protect": "true", "mlapi-data:decommission": "true"}.get
    env = environment(urn, {}, lookup=stack_says, environ={})
    assert env.decommissioning and env.decommission_source == "from stack config mlapi-data:decommission"
    env = environment(urn, {}, lookup={"mlapi-data:protect": "true"}.get, environ={"MLAPI_DECOMMISSION": "true"})
    assert not env.decommissioning and env.decommission_source.startswith("default")


def test_the_pack_reads_protect_from_policy_config_then_stack_config_then_the_default():
    urn = "urn:pulumi:prod::mlapi-data::aws:dynamodb/table:Table::t"
    stack_says = lambda key: "true" if key == "mlapi-data:protect" else None  # noqa: E731
    assert environment(urn, {"protect": False}, lookup=stack_says, environ={}).protect is False
    env = environment(urn, {}, lookup=stack_says, environ={})
    assert env.protect is True and env.protect_source == "from stack config mlapi-data:protect" and env.suffix == "prod"
    env = environment(urn, None, lookup=lambda key: None, environ={})
    assert env.protect is False and env.protect_source.startswith("default")
    # The pack reads booleans as the stacks do: "on" protects a stack, so it protects it for the pack too.
    for word, expected in (("on", True), ("yes", True), ("off", False), ("False", False)):
        assert environment(urn, {}, lookup={"mlapi-data:protect": word}.get, environ={}).protect is expected, word
    # No environment variable protects a stack.
    assert environment(urn, {}, lookup=lambda key: None, environ={"MLAPI_PROTECT": "true"}).protect is False


def test_the_pack_uses_the_providers_region_and_the_suffix_from_stack_config():
    provider = PolicyProviderResource("pulumi:providers:aws", {"region": "eu-west-1"}, "urn:provider", "aws")
    group = res(SECURITY_GROUP, "sg", {"name": "mlapi-alb-sg-demo"}, layer="network")
    recorded = PackRecorder()
    recorded.validate(_policy("names-carry-suffix", False), resource_args(group, provider=provider))
    assert recorded.violations == [] and recorded.reasons == []
    recorded.validate(_policy("names-carry-suffix", False), resource_args({**group, "inputs": {"name": "mlapi-alb-sg"}}))
    assert len(recorded.violations) == 1 and "'demo'" in recorded.messages[0]


def test_a_value_unknown_during_preview_is_left_to_the_sdk_not_guessed():
    key = res(KMS_KEY, "k", {"enableKeyRotation": True})
    args = resource_args(key, props=unknown_checking_proxy({"enableKeyRotation": UNKNOWN_BOOLEAN_VALUE}))
    with pytest.raises(UnknownValueError):
        PackRecorder().validate(_policy("kms-key-rotation", False), args)


def test_policy_pack_project_file_uses_the_repository_virtualenv():
    import yaml

    spec = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"]["name"] == "python" and spec["runtime"]["options"]["virtualenv"] == "../.venv"
    assert "build_policies()" in (ROOT / "policy" / "__main__.py").read_text()


def test_the_real_policy_pack_serves_every_rule_over_the_analyzer_protocol():
    """Start the pack exactly as the Pulumi CLI does for a `runtime: python` pack (its
    pulumi-analyzer-policy-python shim): cwd = the pack's directory, the interpreter of the
    PulumiPolicy.yaml `virtualenv` (relative to that directory), `python -u -m pulumi.policy
    <engine> .`, the stack's config in PULUMI_CONFIG. Then talk to it over gRPC."""
    import grpc
    import yaml
    from google.protobuf import empty_pb2, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    pack_dir = ROOT / "policy"
    spec = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text())
    virtualenv = (pack_dir / spec["runtime"]["options"]["virtualenv"]).resolve()
    python = virtualenv / "bin" / "python"
    assert python.exists(), f"{virtualenv} is not a virtualenv: the CLI could not start the pack"
    environ = {
        **os.environ,
        "PATH": f"{virtualenv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PULUMI_CONFIG": json.dumps({"mlapi-data:protect": "true"}),
        "PULUMI_PROJECT": "mlapi-data",
        "PULUMI_STACK": "demo",
        "PULUMI_DRY_RUN": "true",
    }
    environ.pop("PYTHONHOME", None)
    environ.pop("PYTHONPATH", None)  # the pack must find `shared` on its own
    process = subprocess.Popen(
        [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=pack_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
    )
    try:
        port = int(process.stdout.readline())
        stub = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        levels = {p.name: p.enforcementLevel for p in info.policies}
        assert info.name == "mlapi-compliance" and set(levels) == {r.id for r in REGISTRY}
        for r in REGISTRY:
            assert levels[r.id] == (analyzer_pb2.MANDATORY if r.mandatory else analyzer_pb2.ADVISORY), r.id

        table = struct_pb2.Struct()
        table.update({"name": "mlapi-sessions-demo", "serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN}})
        response = stub.Analyze(
            analyzer_pb2.AnalyzeRequest(
                type=DYNAMODB_TABLE, properties=table, urn=f"urn:pulumi:demo::mlapi-data::{DYNAMODB_TABLE}::t", name="t"
            ),
            timeout=30,
        )
        flagged = {d.policyName: d for d in response.diagnostics}
        # protect=true came from the stack config the engine hands the pack (PULUMI_CONFIG).
        assert {"dynamodb-deletion-protection", "dynamodb-point-in-time-recovery"} <= set(flagged)
        assert flagged["dynamodb-deletion-protection"].enforcementLevel == analyzer_pb2.MANDATORY
        assert "dynamodb-encrypted-cmk" not in flagged

        lb = struct_pb2.Struct()
        lb.update({"arn": LB_ARN, "loadBalancerType": "application", "dropInvalidHeaderFields": True})
        stack = stub.AnalyzeStack(
            analyzer_pb2.AnalyzeStackRequest(
                resources=[
                    analyzer_pb2.AnalyzerResource(
                        type=LB, properties=lb, urn=f"urn:pulumi:demo::mlapi-compute::{LB}::alb", name="alb"
                    )
                ]
            ),
            timeout=30,
        )
        not_applicable = {n.policy_name: n.reason for n in stack.not_applicable}
        assert "invoke check" in not_applicable["alb-behind-waf"]
        assert "alb-behind-waf" not in {d.policyName for d in stack.diagnostics}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_pack_over_each_layer_of_the_default_plan_finds_nothing_invoke_check_does_not(default_plan):
    """Each layer as a deployed stack (props = inputs and outputs) through every policy of the pack:
    whatever the pack flags, the offline runner flags too (it sees more, never less)."""
    document = default_plan.document()
    states = {reg.urn: reg.state for lp in default_plan.layers for reg in lp.rendered.registrations}
    env = Environment(suffix=ENV, region="us-east-1", protect=False, protect_source="test")
    offline = {
        (r.rule.id, r.resource.urn)
        for r in run(view_from_document(document, states=states), env).results
        if r.status is Status.VIOLATION and r.resource is not None
    }
    found: set[tuple[str, str | None]] = set()
    for policy in build_policies(lookup=_config(False)):
        for layer in document["layers"]:
            items = [{**r, "state": states.get(r["urn"], {})} for r in layer["resources"] if r["type"] != STACK]
            found |= {(policy.name, urn) for _, urn in PackRecorder().judge(policy, items).violations}
    assert found <= offline, sorted(found - offline)
    assert sum(1 for lp in default_plan.layers for _ in lp.rendered.registrations) > 50


@pytest.mark.parametrize("rule_id", list(MUTATIONS))
def test_the_pack_catches_the_same_broken_setting_in_the_real_layers(rule_id, real_plan):
    document, states = real_plan
    mutate, protect, expected = MUTATIONS[rule_id]
    if mutate is not NOTHING:
        assert _pack_over_layers(rule_id, document, states, protect)[0] == [], f"{rule_id}: the pack flags the unmodified plan"
        document = copy.deepcopy(document)
        mutate(document)
    found, reasons = _pack_over_layers(rule_id, document, states, protect)
    if rule_id in PACK_CROSS_STACK:
        assert found == [] and any("invoke check" in r for r in reasons), (found, reasons)
    else:
        assert any(expected in f for f in found), (found, reasons)
        assert all(by_id(rule_id).fix in f for f in found)


def test_stack_rules_in_the_pack_match_by_property_dependencies_while_ids_are_unknown():
    """During a preview the ids of resources being created are unknown; the engine still says which
    resources a property comes from, and the stack rules judge by that instead of giving up."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    unknown = {"id": UNKNOWN_STRING_VALUE, "arn": UNKNOWN_STRING_VALUE}
    main, other = (
        stack_resource(res(VPC, name, {"cidrBlock": "10.0.0.0/16", **unknown}, layer="network")) for name in ("main", "other")
    )

    def flow_log(of: PolicyResource) -> PolicyResource:
        item = res(
            FLOW_LOG, "fl", {"vpcId": UNKNOWN_STRING_VALUE, "trafficType": "ALL", "id": UNKNOWN_STRING_VALUE}, layer="network"
        )
        return stack_resource(item, dependencies={"vpcId": [of]})

    policy = _policy("vpc-flow-logs", False)
    recorded = PackRecorder()
    recorded.validate(policy, StackValidationArgs([main, flow_log(main)], {}))
    assert recorded.violations == []
    recorded.validate(policy, StackValidationArgs([main, other, flow_log(other)], {}))
    assert len(recorded.violations) == 1 and "no flow log" in recorded.messages[0]
