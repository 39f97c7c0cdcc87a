"""Every rule: registered with controls and a fix, passes its good fragment, fails its bad one, and
catches its setting broken in the real default plan."""

from __future__ import annotations

import copy

import pytest

from shared.compliance import REGISTRY, Scope, by_id

from .cases import (
    CASES,
    MORE_FAILING_CASES,
    MUTATIONS,
)
from .support import (
    NOTHING,
    _offline,
    fragment,
    violations,
)


def test_every_rule_has_a_passing_and_a_failing_case():
    assert set(CASES) == {r.id for r in REGISTRY}


def test_every_rule_names_controls_and_a_fix_and_has_a_unique_id():
    ids = [r.id for r in REGISTRY]
    assert len(ids) == len(set(ids))
    for r in REGISTRY:
        assert r.controls and all(c.strip() for c in r.controls), r.id
        assert len(r.fix) > 20 and r.title, r.id
        if r.scope is not Scope.RESOURCE:
            assert r.pack_note, f"{r.id}: a stack/plan rule must say what one stack can judge"


@pytest.mark.parametrize("rule_id", [r for r in CASES if r != "no-literal-region-or-account"])
def test_rule_passes_the_good_fragment_and_fails_the_bad_one(rule_id):
    good, bad, expected, protect = CASES[rule_id]
    assert violations(rule_id, fragment(*good), protect=protect) == []
    found = violations(rule_id, fragment(*bad), protect=protect)
    assert found, f"{rule_id} did not flag its failing fragment"
    assert any(expected in message for message in found), found


@pytest.mark.parametrize("rule_id,resource,message,protect", MORE_FAILING_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_each_branch_of_a_rule_reports_its_own_problem(rule_id, resource, message, protect):
    found = violations(rule_id, fragment(resource), protect=protect)
    assert any(message in m for m in found), found


def test_every_rule_has_a_mutation_of_the_real_plan():
    assert set(MUTATIONS) | {"no-literal-region-or-account"} == {r.id for r in REGISTRY}


@pytest.mark.parametrize("rule_id", list(MUTATIONS))
def test_rule_catches_its_setting_broken_in_the_real_default_plan(rule_id, real_plan):
    document, states = real_plan
    mutate, protect, expected = MUTATIONS[rule_id]
    if mutate is not NOTHING:
        assert _offline(rule_id, document, states, protect) == [], f"{rule_id} already fails on the unmodified default plan"
        document = copy.deepcopy(document)
        mutate(document)
    messages = [r.finding.message for r in _offline(rule_id, document, states, protect)]
    assert any(expected in m for m in messages), messages


# The ids and order of the rules before the egress rule was added: the policy pack lists policies
# and `invoke check` counts rules in this order, and users' policy configs name these ids.
ORIGINAL_ORDER = [
    "kms-key-rotation",
    "kms-key-not-public",
    "aurora-encrypted-cmk",
    "dynamodb-encrypted-cmk",
    "secret-encrypted-cmk",
    "log-group-encrypted-cmk",
    "log-group-retention",
    "database-not-public",
    "database-in-private-subnets",
    "rds-managed-master-password",
    "aurora-deletion-protection",
    "aurora-final-snapshot",
    "aurora-multi-az",
    "dynamodb-deletion-protection",
    "dynamodb-point-in-time-recovery",
    "ephemeral-destroyable",
    "secret-rotation",
    "subnet-no-auto-public-ip",
    "sg-no-world-ingress",
    "sg-rule-descriptions",
    "default-sg-closed",
    "vpc-flow-logs",
    "task-no-public-ip",
    "alb-drop-invalid-headers",
    "alb-https-redirect",
    "alb-tls-policy",
    "alb-behind-waf",
    "alb-deletion-protection",
    "cloudfront-https-viewers",
    "cloudfront-custom-certificate",
    "cloudfront-tls12",
    "cloudfront-waf",
    "cloudfront-origin-https",
    "waf-has-rules",
    "waf-logging",
    "iam-no-wildcard-actions",
    "iam-no-wildcard-resource",
    "ecs-distinct-task-roles",
    "ecs-container-insights",
    "ecs-container-logging",
    "ecs-no-secrets-in-environment",
    "ecs-readonly-root-filesystem",
    "ecs-not-privileged",
    "ecr-scan-on-push",
    "ecr-immutable-tags",
    "ecr-lifecycle-policy",
    "names-carry-suffix",
    "no-literal-region-or-account",
]


# Added since, by domain: each module appends its rules after its existing ones.
ENDPOINT_RULES = [
    "vpc-endpoint-private-dns",
    "vpc-endpoint-sg-https-only",
    "vpc-endpoint-in-private-subnets",
    "vpc-endpoint-policy-scoped",
]
DEPLOYMENT_RULES = [
    "codedeploy-auto-rollback",
    "codedeploy-rollback-alarms",
    "codedeploy-blue-green",
    "codedeploy-blue-termination",
    "ecs-codedeploy-service-has-group",
    "codedeploy-test-listener-private",
]


def test_the_rules_package_registers_the_same_rules_in_the_same_order_plus_the_added_ones():
    ids = [r.id for r in REGISTRY]
    added = {"sg-egress-restricted", "alb-internet-facing-https", *ENDPOINT_RULES, *DEPLOYMENT_RULES}
    assert [i for i in ids if i not in added] == ORIGINAL_ORDER
    assert ids.index("sg-egress-restricted") == ids.index("sg-no-world-ingress") + 1
    assert ids.index("alb-internet-facing-https") == ids.index("alb-deletion-protection") + 1
    # The endpoint rules close the network domain; the CodeDeploy domain comes between ECS and naming.
    start = ids.index("task-no-public-ip") + 1
    assert ids[start : start + len(ENDPOINT_RULES)] == ENDPOINT_RULES
    start = ids.index("ecr-lifecycle-policy") + 1
    assert ids[start : start + len(DEPLOYMENT_RULES)] == DEPLOYMENT_RULES
    assert ids[start + len(DEPLOYMENT_RULES)] == "names-carry-suffix"
    # Each domain module registers its own rules: the network module the egress rule.
    from shared.compliance.rules import network

    assert by_id("sg-egress-restricted").check is network.sg_egress_restricted
