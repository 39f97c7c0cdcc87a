"""Network rules: world ingress, egress, flow logs."""

from __future__ import annotations

import copy
import json

import pytest

from shared.aws_types import (
    SECURITY_GROUP,
    SG_EGRESS,
    SG_INGRESS,
    SG_RULE,
    VPC,
)
from shared.compliance import Status, by_id
from shared.compliance.model import Environment
from shared.compliance.plan_view import view_from_document
from shared.compliance.runner import run

from .cases import ENDPOINT_RULES, MUTATIONS
from .support import (
    ENV,
    _find,
    _offline,
    _pack_over_layers,
    _run_pack,
    egress_case,
    fragment,
    res,
    violations,
    world_ingress,
)


def test_world_ingress_on_a_group_without_a_load_balancer_is_a_violation_on_any_port():
    rules = world_ingress(443)
    rules[0]["state"] = {"id": "sg-service"}
    rules[1]["inputs"]["securityGroupId"] = "sg-service"
    found = violations("sg-no-world-ingress", fragment(*rules))
    assert found == ["port 443 is open to 0.0.0.0/0, and this is not a load balancer's security group"]


def test_world_ingress_of_every_protocol_is_flagged_even_on_the_alb():
    rules = world_ingress(443)
    rules[1]["inputs"].update(ipProtocol="-1", fromPort=0, toPort=0)
    assert "every port is open" in violations("sg-no-world-ingress", fragment(*rules))[0]


def test_flow_logs_of_accepted_traffic_only_do_not_count():
    vpc = res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"})
    for traffic, flagged in (("ACCEPT", True), ("REJECT", False), ("ALL", False)):
        log = res("aws:ec2/flowLog:FlowLog", "fl", {"vpcId": "vpc-1", "trafficType": traffic}, layer="network")
        assert bool(violations("vpc-flow-logs", fragment(vpc, log))) is flagged, traffic


def test_internet_mode_may_open_only_the_ports_the_load_balancer_listens_on():
    """Network opens `albListenerPorts` to the world; compute decides the listeners. Without a
    certificate the ALB listens on 80 only, so the default [80, 443] leaves 443 open for nothing:
    only the whole plan shows it. The network stack alone (the pack) accepts 80/443 (EC2.18)."""
    from conftest import plan_layers

    def judged(ports: list) -> tuple[list[str], list[str]]:
        # With payments too: the network layer opens the payments load balancer's ports whenever the
        # environment has that layer, and only its listeners justify them.
        plan = plan_layers(
            "compute", "payments", env=ENV, config={"network": {"albIngressSource": "internet", "albListenerPorts": ports}}
        )
        document = json.loads(json.dumps(plan.document()))
        states = {reg.urn: reg.state for lp in plan.layers for reg in lp.rendered.registrations}
        offline = [r.finding.message for r in _offline("sg-no-world-ingress", document, states, False)]
        return offline, _pack_over_layers("sg-no-world-ingress", document, states, False)[0]

    offline, pack = judged([80, 443])
    assert offline == ["port 443 is open to 0.0.0.0/0 on the load balancer's security group, whose listeners use [80]"]
    assert pack == []
    assert judged([80]) == ([], [])


# -- egress -----------------------------------------------------------------------------------------
def egress_results(items: list[dict], *, protect: bool = False, suffix: str = ENV) -> list[tuple[Status, str, str]]:
    document = fragment(*items)
    env = Environment(suffix=suffix, region="us-east-1", protect=protect, protect_source="test")
    results = run(view_from_document(document), env, rules=[by_id("sg-egress-restricted")]).results
    return [(r.status, r.finding.message, r.reason) for r in results]


@pytest.mark.parametrize(
    ("protocol", "port", "destination", "expected"),
    [
        ("-1", None, {"referencedSecurityGroupId": "sg-db"}, "every protocol and port to security group sg-db: never allowed"),
        ("all", 443, {"prefixListId": "pl-0abc"}, "every protocol and port to prefix list pl-0abc: never allowed"),
        ("tcp", None, {"referencedSecurityGroupId": "sg-db"}, "every tcp port to security group sg-db: never allowed"),
        ("icmp", 8, {"cidrIpv4": "10.0.0.0/16"}, "over protocol icmp to 10.0.0.0/16: name tcp or udp ports"),
        ("tcp", 443, {"cidrIpv4": "10.0.0.0/16"}, "to 10.0.0.0/16 on tcp port 443: wider than a security group"),
        ("udp", 53, {"cidrIpv6": "::/0"}, "to ::/0 on udp port 53: wider than a security group"),
    ],
)
def test_egress_to_every_protocol_every_port_or_a_cidr_is_a_violation(protocol, port, destination, expected):
    (result,) = egress_results(egress_case("service-sg", "x", protocol=protocol, port=port, **destination))
    assert result[0] is Status.VIOLATION and expected in result[1], result


def test_egress_to_every_port_of_a_named_group_is_a_violation_even_there():
    items = egress_case("alb-sg", "x", protocol="tcp", port=None, referencedSecurityGroupId="sg-service")
    items[1]["inputs"].update(fromPort=0, toPort=65535)
    ((status, message, _),) = egress_results(items)
    assert status is Status.VIOLATION and "every tcp port to security group sg-service" in message


def test_a_port_range_is_not_a_named_port():
    items = egress_case("alb-sg", "x", protocol="tcp", port=None, referencedSecurityGroupId="sg-service")
    items[1]["inputs"].update(fromPort=8000, toPort=8100)
    ((status, message, _),) = egress_results(items)
    assert status is Status.VIOLATION and "ports 8000-8100" in message and "name each port" in message


def test_https_through_the_nat_is_an_exception_for_the_task_groups_only_and_shows_its_reason():
    for group in ("service-sg", "payments-service-sg"):  # the payments group is covered by its type and name
        ((status, message, reason),) = egress_results(egress_case(group, "x", protocol="tcp", port=443, cidrIpv4="0.0.0.0/0"))
        assert status is Status.WAIVED and f"mlapi-{group}-{ENV}" in message
        assert reason.startswith("exception tasks-https-through-nat: the tasks pull the default image from ECR Public")
    # The same permission on a load balancer, on another port, or to IPv6 is not the exception.
    for group, port, cidr in (
        ("alb-sg", 443, "0.0.0.0/0"),
        ("payments-alb-sg", 443, "0.0.0.0/0"),
        ("service-sg", 80, "0.0.0.0/0"),
    ):
        ((status, message, _),) = egress_results(egress_case(group, "x", protocol="tcp", port=port, cidrIpv4=cidr))
        assert status is Status.VIOLATION and "no entry of the egress exception list names it" in message, (group, port)
    ((status, _, _),) = egress_results(egress_case("service-sg", "x", protocol="tcp", port=443, cidrIpv6="::/0"))
    assert status is Status.VIOLATION


def test_the_exception_names_the_group_of_this_environment():
    items = egress_case("service-sg", "x", protocol="tcp", port=443, cidrIpv4="0.0.0.0/0")
    # Another environment's group (mlapi-service-sg-demo judged for 'prod') is not this environment's task group.
    ((status, _, _),) = egress_results(items, suffix="prod")
    assert status is Status.VIOLATION


def test_security_group_rules_and_inline_egress_blocks_are_judged_too():
    group = res(
        SECURITY_GROUP,
        "legacy",
        {
            "name": f"mlapi-legacy-sg-{ENV}",
            "description": "legacy",
            "egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"], "description": "all"}],
        },
        layer="network",
        state={"id": "sg-legacy"},
    )
    rule = res(
        SG_RULE,
        "legacy-out",
        {
            "type": "egress",
            "securityGroupId": "sg-legacy",
            "protocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "cidrBlocks": ["10.0.0.0/8"],
        },
        layer="network",
    )
    ingress = res(
        SG_RULE,
        "legacy-in",
        {"type": "ingress", "securityGroupId": "sg-legacy", "protocol": "-1", "fromPort": 0, "toPort": 0, "self": True},
        layer="network",
    )
    messages = sorted(m for s, m, _ in egress_results([group, rule, ingress]) if s is Status.VIOLATION)
    assert len(messages) == 2, messages  # the ingress rule is not egress
    assert "every protocol and port to 0.0.0.0/0" in messages[0]
    assert "to 10.0.0.0/8 on tcp port 5432: wider than a security group" in messages[1]


def test_an_exception_can_hold_for_one_kind_of_environment_only():
    from shared.compliance.registry import AppliesTo as Applies
    from shared.compliance.rules.network import EgressException, egress_findings

    exception = EgressException(
        name="debug-dns",
        groups=("service-sg",),
        protocol="udp",
        port=53,
        destinations=frozenset({"0.0.0.0/0"}),
        why="throwaway environments resolve through a public resolver while debugging",
        applies_to=Applies.EPHEMERAL,
    )
    view = view_from_document(fragment(*egress_case("service-sg", "dns", protocol="udp", port=53, cidrIpv4="0.0.0.0/0")))
    for protect, expected_waived in ((False, True), (True, False)):
        env = Environment(suffix=ENV, region="us-east-1", protect=protect)
        (finding,) = egress_findings(view, env, exceptions=(exception,))
        assert (finding.waived is not None) is expected_waived, finding
    env = Environment(suffix=ENV, region="us-east-1", protect=True)
    (finding,) = egress_findings(view, env, exceptions=(exception,))
    assert "exception debug-dns holds for ephemeral environments only" in finding.message


def test_the_pack_leaves_an_exception_whose_group_it_cannot_see_to_invoke_check():
    # The egress rule alone (its group in another stack): the exception could hold, only the whole plan shows it.
    rule_only = egress_case("service-sg", "x", protocol="tcp", port=443, cidrIpv4="0.0.0.0/0")[1:]
    found, reason = _run_pack("sg-egress-restricted", rule_only, protect=False)
    assert found == [] and reason and "invoke check" in reason
    # Never-allowed egress is refused whether or not the group is visible.
    found, _ = _run_pack(
        "sg-egress-restricted", egress_case("service-sg", "x", protocol="-1", port=None, cidrIpv4="0.0.0.0/0")[1:], protect=False
    )
    assert len(found) == 1 and "every protocol and port" in found[0] and by_id("sg-egress-restricted").fix in found[0]


def test_widening_the_real_service_or_load_balancer_egress_is_caught_offline_and_by_the_pack(real_plan):
    document, states = real_plan
    assert _offline("sg-egress-restricted", document, states, False) == []
    for name in ("sg-service-out-https", "sg-alb-out-service", "sg-service-out-database"):
        broken = copy.deepcopy(document)
        _find(broken, SG_EGRESS, name)["inputs"].update(ipProtocol="-1", fromPort=-1, toPort=-1)
        offline = [r.finding.message for r in _offline("sg-egress-restricted", broken, states, False)]
        assert len(offline) == 1 and "every protocol and port" in offline[0], (name, offline)
        pack, _ = _pack_over_layers("sg-egress-restricted", broken, states, False)
        assert len(pack) == 1 and "every protocol and port" in pack[0], (name, pack)
    broken = copy.deepcopy(document)
    inputs = _find(broken, SG_EGRESS, "sg-alb-out-service")["inputs"]
    inputs.pop("referencedSecurityGroupId")
    inputs["cidrIpv4"] = "0.0.0.0/0"
    (finding,) = _offline("sg-egress-restricted", broken, states, False)
    assert "to 0.0.0.0/0 on tcp port 8080: wider than a security group" in finding.finding.message


@pytest.fixture(scope="module")
def endpoints_plan():
    """The default environment with the network layer's interface endpoints forced on (whatever the
    layers): the plan document and each resource's outputs."""
    from shared.plan.document import build_plan

    plan = build_plan(ENV, "us-east-1", overrides={"network": {"interfaceEndpoints": "on"}})
    document = json.loads(json.dumps(plan.document()))
    states = {reg.urn: reg.state for lp in plan.layers for reg in lp.rendered.registrations}
    return document, states


@pytest.mark.parametrize("rule_id", ENDPOINT_RULES)
def test_endpoint_rules_catch_their_setting_broken_in_the_real_interface_endpoints(rule_id, endpoints_plan):
    document, states = endpoints_plan
    interface = [r for lyr in document["layers"] for r in lyr["resources"] if r["inputs"].get("vpcEndpointType") == "Interface"]
    assert len(interface) == 4  # ecr.api, ecr.dkr, logs, secretsmanager: the rules judge the real ones
    mutate, protect, expected = MUTATIONS[rule_id]
    assert _offline(rule_id, document, states, protect) == []
    assert _pack_over_layers(rule_id, document, states, protect)[0] == []
    broken = copy.deepcopy(document)
    mutate(broken)
    assert any(expected in r.finding.message for r in _offline(rule_id, broken, states, protect))
    found, _ = _pack_over_layers(rule_id, broken, states, protect)
    assert any(expected in f for f in found) and all(by_id(rule_id).fix in f for f in found), found


def test_a_description_ec2_refuses_is_a_violation_and_the_real_plan_has_none(real_plan):
    # EC2 allows letters, digits, spaces and ._-:/()#,@[]+=&;{}!$* in group and rule descriptions:
    # an apostrophe failed the first `up` of every environment with interface endpoints.
    found = violations(
        "sg-rule-descriptions",
        fragment(
            res(SG_INGRESS, "in", {"description": "HTTPS from the compute layer's tasks"}, layer="network"),
            res(
                SECURITY_GROUP, "sg", {"description": "ALB", "egress": [{"description": "to the tasks (8080)"}]}, layer="network"
            ),
        ),
    )
    assert len(found) == 1 and '"\'"' in found[0] and "EC2 refuses" in found[0], found
    document, _ = real_plan
    assert violations("sg-rule-descriptions", document) == []
