"""No literal region or account: two renderings of the same environment."""

from __future__ import annotations

import json

from shared.aws_types import (
    DISTRIBUTION,
    IAM_ROLE_POLICY,
    WEB_ACL,
)
from shared.compliance import Status, by_id
from shared.compliance.runner import run

from .support import (
    ACCOUNT,
    ENV,
    fragment,
    literal_case,
    policy_json,
    res,
    results_of,
    violations,
)


def test_region_that_follows_the_rendering_is_derived():
    a, b = literal_case("eu-west-1")
    assert violations("no-literal-region-or-account", a, twin=b) == []


def test_region_that_stays_the_same_in_both_renderings_is_a_literal():
    a, b = literal_case("us-east-1")
    (message,) = violations("no-literal-region-or-account", a, twin=b)
    assert "inputs.serviceName contains the literal region 'us-east-1'" in message and "eu-west-1" in message


def test_account_id_that_stays_the_same_is_a_literal_and_one_that_follows_is_derived():
    def policy_doc(account: str, region: str) -> dict:
        statement = {
            "Effect": "Allow",
            "Action": ["logs:PutLogEvents"],
            "Resource": [f"arn:aws:logs:{region}:{account}:log-group:x"],
        }
        return fragment(res(IAM_ROLE_POLICY, "p", {"policy": policy_json(statement)}, layer="network"), region=region)

    a = policy_doc(ACCOUNT, "us-east-1")
    derived = {**policy_doc("444455556666", "eu-west-1"), "account": "444455556666"}
    literal = {**policy_doc(ACCOUNT, "eu-west-1"), "account": "444455556666"}
    assert violations("no-literal-region-or-account", a, twin=derived) == []
    (message,) = violations("no-literal-region-or-account", a, twin=literal)
    assert f"literal account '{ACCOUNT}'" in message


def test_a_provider_pinned_to_us_east_1_is_allowed_and_its_resources_are_derived_from_it():
    def rendering(region: str, account: str) -> dict:
        pin = res("pulumi:providers:aws", "cloudfront", {"region": "us-east-1"}, layer="edge")
        acl_arn = f"arn:aws:wafv2:us-east-1:{account}:global/webacl/mlapi-cdn-demo/abc"
        acl = res(
            WEB_ACL,
            "acl",
            {"name": "mlapi-cdn-demo", "scope": "CLOUDFRONT"},
            layer="edge",
            provider=f"{pin['urn']}::id",
            state={"arn": acl_arn},
        )
        # A resource of the environment's own region quoting the pinned ACL's ARN.
        dist = res(DISTRIBUTION, "cdn", {"webAclId": acl_arn}, layer="edge")
        return fragment(pin, acl, dist, region=region)

    twin = {**rendering("eu-west-1", "444455556666"), "account": "444455556666"}
    assert violations("no-literal-region-or-account", rendering("us-east-1", ACCOUNT), twin=twin) == []


def test_a_literal_us_east_1_stands_out_even_beside_a_provider_pinned_there():
    def rendering(region: str, account: str) -> dict:
        pin = res("pulumi:providers:aws", "cloudfront", {"region": "us-east-1"}, layer="edge")
        log_group = f"arn:aws:logs:us-east-1:{account}:log-group:aws-waf-logs-mlapi-demo"  # spelled out, not an output
        policy = res(
            IAM_ROLE_POLICY,
            "p",
            {"policy": policy_json({"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": [log_group]})},
            layer="edge",
        )
        return fragment(pin, policy, region=region)

    twin = {**rendering("eu-west-1", "444455556666"), "account": "444455556666"}
    (message,) = violations("no-literal-region-or-account", rendering("us-east-1", ACCOUNT), twin=twin)
    assert "inputs.policy contains the literal region 'us-east-1'" in message


def test_a_provider_pinned_to_another_region_is_a_literal():
    def rendering(region: str) -> dict:
        return fragment(res("pulumi:providers:aws", "pinned", {"region": "eu-central-1"}, layer="edge"), region=region)

    twin = {**rendering("eu-west-1"), "account": "444455556666"}
    (message,) = violations("no-literal-region-or-account", rendering("us-east-1"), twin=twin)
    assert "pinned to the literal region 'eu-central-1'" in message


def test_without_a_second_rendering_the_literal_rule_is_not_judged():
    a, _ = literal_case("eu-west-1")
    (result,) = results_of("no-literal-region-or-account", a)
    assert result.status is Status.NOT_JUDGED


def test_a_literal_region_written_into_the_real_plan_is_found(checkout):
    """The literal rule on the real environment: the same ARN spelt out in both renderings."""
    from shared.compliance.offline import load

    # The network layer's real rendering, twice (the region twin): the ARN goes into its flow-log
    # role's policy, so the other layers' renders would only add time.
    checkout.environment_file(ENV).write_text("layers: [network]\n")
    view, environment, notes = load(ENV, region="us-east-1")
    assert view.layers == ["network"]
    assert view.twin is not None, notes
    literal = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/mlapi/demo/spelt-out"
    for rendering in (view, view.twin):
        policy_res = next(r for r in rendering if r.name == "flow-logs-role-policy")
        doc = json.loads(policy_res.inputs["policy"])
        doc["Statement"][0]["Resource"].append(literal)
        policy_res.inputs = {**policy_res.inputs, "policy": json.dumps(doc)}
    results = run(view, environment, rules=[by_id("no-literal-region-or-account")]).results
    (finding,) = [r.finding for r in results if r.status is Status.VIOLATION]
    assert finding.resource.name == "flow-logs-role-policy"
    assert "literal region 'us-east-1'" in finding.message and f"literal account '{ACCOUNT}'" in finding.message
