"""Environment-aware rules: waivers for ephemeral, protected and decommissioning environments."""

from __future__ import annotations

import pytest
from conftest import ROOT

from shared.aws_types import (
    KMS_KEY,
    LB,
    RDS_CLUSTER,
)
from shared.compliance import REGISTRY, AppliesTo, Status, by_id
from shared.compliance.offline import resolve_decommission, resolve_protect

from .cases import (
    CASES,
)
from .support import (
    ENV,
    LIFTED_WHILE_DECOMMISSIONING,
    fragment,
    res,
    results_of,
)


@pytest.mark.parametrize("rule_id", [r.id for r in REGISTRY if r.applies_to is AppliesTo.PROTECTED])
def test_protected_only_rules_are_waived_for_ephemeral_environments_with_the_reason(rule_id):
    bad = fragment(*CASES[rule_id][1])
    results = results_of(rule_id, bad, protect=False)
    assert results and all(r.status is Status.WAIVED for r in results)
    assert all("ephemeral environment (protect=false" in r.reason and by_id(rule_id).waiver in r.reason for r in results)
    assert all(r.status is Status.VIOLATION for r in results_of(rule_id, bad, protect=True))


def test_destroyability_is_required_of_ephemeral_environments_and_waived_for_protected_ones():
    protected_lb = fragment(res(LB, "lb", {"enableDeletionProtection": True}, layer="compute"))
    assert [r.status for r in results_of("ephemeral-destroyable", protected_lb, protect=True)] == [Status.WAIVED]
    assert [r.status for r in results_of("ephemeral-destroyable", protected_lb, protect=False)] == [Status.VIOLATION]
    # A decommissioning environment is about to be destroyed: it must be destroyable too.
    assert [r.status for r in results_of("ephemeral-destroyable", protected_lb, protect=True, decommission=True)] == [
        Status.VIOLATION
    ]
    ready = fragment(
        res(LB, "lb", {"enableDeletionProtection": False}, layer="compute"),
        res(
            RDS_CLUSTER,
            "db",
            {
                "deletionProtection": False,
                "skipFinalSnapshot": False,
                "finalSnapshotIdentifier": "mlapi-aurora-final-demo-0a1b2c3d",
            },
        ),
    )
    assert [
        r for r in results_of("ephemeral-destroyable", ready, protect=True, decommission=True) if r.status is Status.VIOLATION
    ] == []


def test_only_the_deletion_protection_rules_are_lifted_while_decommissioning():
    assert {r.id for r in REGISTRY if r.lifted_while_decommissioning} == LIFTED_WHILE_DECOMMISSIONING


@pytest.mark.parametrize("rule_id", sorted(LIFTED_WHILE_DECOMMISSIONING))
def test_deletion_protection_rules_are_waived_while_decommissioning_with_the_reason(rule_id):
    bad = fragment(*CASES[rule_id][1])
    results = results_of(rule_id, bad, protect=True, decommission=True)
    assert results and all(r.status is Status.WAIVED for r in results)
    assert all(r.reason.startswith("decommissioning environment (protect=true, test; decommission=true, test)") for r in results)
    assert all("final snapshot" in r.reason and "kept" in r.reason for r in results)
    # Only a protected environment decommissions: an ephemeral one keeps its own waiver.
    assert all(
        "ephemeral environment (protect=false" in r.reason for r in results_of(rule_id, bad, protect=False, decommission=True)
    )


@pytest.mark.parametrize(
    "rule_id", sorted(r.id for r in REGISTRY if r.applies_to is AppliesTo.PROTECTED and not r.lifted_while_decommissioning)
)
def test_what_keeps_the_data_is_still_required_while_decommissioning(rule_id):
    bad = fragment(*CASES[rule_id][1])
    results = results_of(rule_id, bad, protect=True, decommission=True)
    assert results and all(r.status is Status.VIOLATION for r in results), [(r.status, r.reason) for r in results]


def test_decommission_is_read_from_the_plans_mode_then_the_data_layers_output_then_the_environment_file():
    document = fragment(res(KMS_KEY, "k"), outputs={"data": {"protected": True, "decommissioning": True}})
    assert resolve_decommission(document, ENV) == (True, "from the data layer's `decommissioning` output")
    for layer in document["layers"]:
        layer["decommissioning"] = False
    assert resolve_decommission(document, ENV) == (False, "the plan's layers were all rendered with decommission=false")
    env_file = ROOT / "environments" / "decomres.yaml"
    env_file.write_text("protect: true\ndecommission: true\n")
    try:
        assert resolve_decommission(fragment(res(KMS_KEY, "k")), "decomres") == (
            True,
            "from the environment's `decommission` setting (mlapi-network)",
        )
    finally:
        env_file.unlink()
    assert resolve_decommission(fragment(res(KMS_KEY, "k")), ENV)[0] is False


def test_protect_is_read_from_the_flag_the_plans_mode_then_the_data_layers_output():
    document = fragment(res(KMS_KEY, "k"), outputs={"data": {"protected": True}})
    assert resolve_protect(document, ENV) == (True, "from the data layer's `protected` output")
    assert resolve_protect(document, ENV, flag=False)[0] is False
    for layer in document["layers"]:
        layer["protected"] = False
    assert resolve_protect(document, ENV) == (False, "the plan's layers were all rendered with protect=false")
