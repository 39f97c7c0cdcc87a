"""The offline runner (`invoke check`) over real plans."""

from __future__ import annotations

import json

from conftest import ROOT

from shared import manifest
from shared.aws_types import (
    ECR_REPOSITORY,
    KMS_KEY,
    RDS_CLUSTER,
)
from shared.compliance import REGISTRY, Status, by_id
from shared.compliance.plan_view import view_from_document

from .support import (
    ENV,
    LIFTED_WHILE_DECOMMISSIONING,
)


def test_outputs_re_derived_from_a_plan_file_match_the_mock_runtimes(default_plan):
    rendered = {reg.urn: reg for lp in default_plan.layers for reg in lp.rendered.registrations}
    view = view_from_document(json.loads(json.dumps(default_plan.document())))
    checked = 0
    for resource in view:
        if resource.is_aws and "[secret]" not in json.dumps(resource.inputs):
            state = rendered[resource.urn].state
            assert (resource.outputs.get("id"), resource.outputs.get("arn")) == (state.get("id"), state.get("arn")), resource.urn
            checked += 1
    assert checked > 20


def test_the_default_environment_passes_invoke_check(run_invoke):
    result = run_invoke("check", "--env", "demo")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "PASSED: 0 mandatory violation(s)" in result.stdout
    for layer in ("network", "data", "compute", "edge"):
        assert f"[{layer}]" in result.stdout
    # Ephemeral by default: the protected-only rules are waived, each with the reason shown.
    out = " ".join(result.stdout.split())
    for rule_id in ("aurora-deletion-protection", "aurora-final-snapshot", "aurora-multi-az", "alb-deletion-protection"):
        assert f"WAIVED {rule_id}:" in out, rule_id
        assert "because: ephemeral environment (protect=false" in out and by_id(rule_id).waiver.split(";")[0] in out, rule_id


def test_invoke_check_reports_a_violation_in_a_plan_file_by_layer_and_exits_1(tmp_path, default_plan, run_invoke):
    document = json.loads(json.dumps(default_plan.document()))
    network = next(lyr for lyr in document["layers"] if lyr["layer"] == "network")
    key = next(r for r in network["resources"] if r["type"] == KMS_KEY)
    key["inputs"]["enableKeyRotation"] = False
    path = tmp_path / "demo.plan.json"
    path.write_text(json.dumps(document))
    result = run_invoke("check", "--env", "demo", "--plan", str(path))
    assert result.returncode == 1
    out = result.stdout
    section = out[out.index("[network]") :]
    assert "FAIL [mandatory] kms-key-rotation (FSBP KMS.4)" in section and key["name"] in section
    assert "fix:      Set enable_key_rotation=True" in section
    assert "mandatory compliance violation(s): see the report above" in result.stderr


def test_invoke_check_refuses_a_plan_file_of_another_environment(tmp_path, default_plan, run_invoke):
    path = tmp_path / "demo.plan.json"
    path.write_text(json.dumps(default_plan.document()))
    result = run_invoke("check", "--env", "prod", "--plan", str(path))
    assert result.returncode == 2 and "--env" in result.stderr and "'demo'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_compliance_docs_list_every_rule_with_its_controls():
    section = (ROOT / "docs" / "compliance.md").read_text()
    for r in REGISTRY:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{r.id}` |")), None)
        assert row is not None, f"docs/compliance.md's rule table misses {r.id}"
        assert all(control in row for control in r.controls) and r.severity.value in row, row


def _with_certificates(overrides: dict) -> dict:
    """Domains (hence certificates and HTTPS listeners) for the load balancers of a protected environment:
    compute's (CloudFront's origin) and the payments one, whose network listener ports follow (443
    production, 8443 test)."""
    zone = "Z0123456789ABCDEFGHIJ"
    overrides["compute"].update(albDomainName=f"origin.{ENV}.mycompany.io", hostedZoneId=zone)
    overrides["payments"].update(albDomainName=f"pay.{ENV}.mycompany.io", hostedZoneId=zone)
    overrides["network"].update(paymentsListenerPorts=[80, 443], paymentsTestListenerPort=8443)
    return overrides


def test_a_protected_environment_needs_an_https_origin_and_then_passes(tmp_path):
    """Judged as protected, the default environment fails only because CloudFront would reach its
    certificate-less ALB over HTTP; with an ALB domain (an HTTPS origin) it passes."""
    from shared.compliance.offline import check_environment
    from shared.plan.document import build_plan

    report = check_environment(ENV, region="us-east-1", protect=True)
    assert report.env.protect and not report.passed
    # The payments ALB faces clients directly: without a domain it serves them plain HTTP.
    expected = {"cloudfront-origin-https", "alb-internet-facing-https"}
    assert {r.rule.id for r in report.mandatory_violations} == expected, report.format()

    overrides = _with_certificates({layer.name: {"protect": True} for layer in manifest.LAYERS})
    plan_file = tmp_path / "protected.plan.json"
    build_plan(ENV, "us-east-1", overrides=overrides).write(plan_file)
    report = check_environment(ENV, plan_file=plan_file)
    assert report.env.protect and report.passed, report.format()
    assert not report.violations_of("aurora-multi-az")
    waived = {r.rule.id for r in report.of_status(Status.WAIVED)}
    # The tasks' HTTPS through the NAT is an egress exception, shown with its reason in every environment.
    assert waived == {"ephemeral-destroyable", "sg-egress-restricted"}, waived


def test_a_decommissioning_environment_passes_with_deletion_protection_waived_and_the_final_snapshot_kept(tmp_path):
    """The real environment rendered protected and decommissioning (what `up-all` deploys before
    `down-all`): it passes, the deletion-protection rules are waived with the reason, and it is
    judged destroyable. Dropping the final snapshot is still a violation."""
    from shared.compliance.offline import check_environment
    from shared.plan.document import build_plan

    overrides = _with_certificates({layer.name: {"protect": True, "decommission": True} for layer in manifest.LAYERS})
    plan = build_plan(ENV, "us-east-1", overrides=overrides)
    plan_file = tmp_path / "decommissioning.plan.json"
    plan.write(plan_file)
    report = check_environment(ENV, plan_file=plan_file)
    assert report.env.protect and report.env.decommissioning and report.passed, report.format()
    assert report.env.decommission_source == "the plan's layers were all rendered with decommission=true"
    waived = {r.rule.id: r.reason for r in report.of_status(Status.WAIVED) if r.rule.id != "sg-egress-restricted"}
    assert set(waived) == LIFTED_WHILE_DECOMMISSIONING, waived
    assert all(reason.startswith("decommissioning environment") for reason in waived.values())
    assert not report.violations_of("ephemeral-destroyable")  # judged (not waived), and nothing blocks the destroy
    out = " ".join(report.format().split())
    assert "decommission=true (the plan's layers were all rendered with decommission=true)" in out
    assert "WAIVED aurora-deletion-protection:" in out and "because: decommissioning environment" in out

    document = plan.document()
    data = next(lyr for lyr in document["layers"] if lyr["layer"] == "data")
    cluster_inputs = next(r for r in data["resources"] if r["type"] == RDS_CLUSTER)["inputs"]
    cluster_inputs.update(skipFinalSnapshot=True)
    cluster_inputs.pop("finalSnapshotIdentifier")
    compute = next(lyr for lyr in document["layers"] if lyr["layer"] == "compute")
    next(r for r in compute["resources"] if r["type"] == ECR_REPOSITORY)["inputs"].update(forceDelete=False)
    plan_file.write_text(json.dumps(document))
    report = check_environment(ENV, plan_file=plan_file)
    assert {r.rule.id for r in report.mandatory_violations} == {"aurora-final-snapshot", "ephemeral-destroyable"}, report.format()
