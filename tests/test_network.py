"""The network layer, rendered through its real program under the mock runtime."""

from __future__ import annotations

import ipaddress

import pytest
from conftest import layer_of, plan_layers, policy

from shared.errors import ConfigError

SUBNET = "aws:ec2/subnet:Subnet"
RT = "aws:ec2/routeTable:RouteTable"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


@pytest.fixture(scope="module")
def net():
    return layer_of(plan_layers("network", env="netdemo", region="eu-west-1"), "network")


def sg_ids(net):
    return {r.name.split("-", 1)[1]: r.id for r in net.of_type("aws:ec2/securityGroup:SecurityGroup")}


def ml_api_rules(net, type_token):
    """Rules of the ML API's own groups (component ``sg``); the payments workload's are in test_network_endpoints.py."""
    return [r for r in net.of_type(type_token) if r.name.startswith("sg-")]


def test_three_public_and_three_private_subnets_in_three_distinct_azs(net):
    subnets = net.of_type(SUBNET)
    public = [s for s in subnets if s.inputs["tags"]["Tier"] == "public"]
    private = [s for s in subnets if s.inputs["tags"]["Tier"] == "private"]
    assert len(public) == len(private) == 3
    for group in (public, private):
        assert len({s.inputs["availabilityZone"] for s in group}) == 3
    assert {s.inputs["availabilityZone"] for s in subnets} <= {"eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"}
    assert net.outputs["availabilityZones"] == sorted(net.outputs["availabilityZones"])
    assert not any(s.inputs.get("mapPublicIpOnLaunch") for s in subnets)


def test_vpc_has_dns_and_default_cidr(net):
    vpc = net.one("aws:ec2/vpc:Vpc").inputs
    assert vpc["cidrBlock"] == "10.0.0.0/16"
    assert vpc["enableDnsSupport"] and vpc["enableDnsHostnames"]


def _cidrs_fit(net, vpc_cidr):
    vpc = ipaddress.ip_network(vpc_cidr)
    nets = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in net.of_type(SUBNET)]
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    return nets


def test_subnet_cidrs_derive_from_the_vpc_cidr(net):
    nets = _cidrs_fit(net, "10.0.0.0/16")
    assert sorted(n.prefixlen for n in nets) == [18, 18, 18, 20, 20, 20]


def test_custom_vpc_cidr_moves_every_subnet():
    plan = plan_layers("network", config={"network": {"vpcCidr": "172.20.0.0/20"}})
    rendered = layer_of(plan, "network")
    assert rendered.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"] == "172.20.0.0/20"
    _cidrs_fit(rendered, "172.20.0.0/20")


def test_bad_vpc_cidr_fails_before_any_resource():
    with pytest.raises(ConfigError, match="mlapi-network:vpcCidr"):
        plan_layers("network", config={"network": {"vpcCidr": "10.0.0.0/8"}})
    # A /24 would leave the load balancer /28 public subnets, below AWS's /27 minimum.
    with pytest.raises(ConfigError, match="mlapi-network:vpcCidr"):
        plan_layers("network", config={"network": {"vpcCidr": "10.0.0.0/24"}})
    smallest = layer_of(plan_layers("network", config={"network": {"vpcCidr": "10.0.0.0/23"}}), "network")
    public = [s.inputs["cidrBlock"] for s in smallest.of_type("aws:ec2/subnet:Subnet") if "public" in s.name]
    assert len(public) == 3 and all(c.endswith("/27") for c in public)


def test_public_routes_to_internet_gateway_private_to_nat(net):
    igw = net.one("aws:ec2/internetGateway:InternetGateway").id
    nat_ids = {n.id for n in net.of_type("aws:ec2/natGateway:NatGateway")}
    tables = net.of_type(RT)
    public = [t for t in tables if t.name.startswith("main-public-rt")]
    private = [t for t in tables if t.name.startswith("main-private-rt")]
    assert len(public) == 1 and len(private) == 3
    assert public[0].inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": igw}]
    for t in private:
        (route,) = t.inputs["routes"]
        assert route["cidrBlock"] == "0.0.0.0/0" and route["natGatewayId"] in nat_ids
    assert len(nat_ids) == 1
    assocs = net.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    subnet_ids = {s.id for s in net.of_type(SUBNET)}
    assert {a.inputs["subnetId"] for a in assocs} == subnet_ids


def test_nat_gateway_per_az_setting():
    rendered = layer_of(plan_layers("network", config={"network": {"natGatewayPerAz": True}}), "network")
    nats = rendered.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    public_subnets = {s.id for s in rendered.of_type(SUBNET) if s.inputs["tags"]["Tier"] == "public"}
    assert {n.inputs["subnetId"] for n in nats} == public_subnets
    routes = {t.inputs["routes"][0]["natGatewayId"] for t in rendered.of_type(RT) if "private" in t.name}
    assert routes == {n.id for n in nats}


def test_gateway_endpoints_on_every_private_route_table(net):
    private_tables = sorted(t.id for t in net.of_type(RT) if "private" in t.name)
    endpoints = [e for e in net.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["vpcEndpointType"] == "Gateway"]
    assert sorted(e.inputs["serviceName"] for e in endpoints) == [
        "com.amazonaws.eu-west-1.dynamodb",
        "com.amazonaws.eu-west-1.s3",
    ]
    for e in endpoints:
        assert e.inputs["vpcEndpointType"] == "Gateway"
        assert sorted(e.inputs["routeTableIds"]) == private_tables


def test_default_security_group_is_closed(net):
    dsg = net.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert not dsg.get("ingress") and not dsg.get("egress")


def test_flow_logs_go_to_an_encrypted_30_day_log_group(net):
    key = net.one("aws:kms/key:Key")
    group = net.one("aws:cloudwatch/logGroup:LogGroup")
    flow = net.one("aws:ec2/flowLog:FlowLog").inputs
    assert key.inputs["enableKeyRotation"] is True
    assert group.inputs["retentionInDays"] == 30
    assert group.inputs["kmsKeyId"] == key.state["arn"]
    assert flow["logDestination"] == group.state["arn"] and flow["trafficType"] == "ALL"
    assert flow["vpcId"] == net.one("aws:ec2/vpc:Vpc").id
    key_policy = policy(key.inputs["policy"])
    logs = next(s for s in key_policy["Statement"] if s["Sid"] == "CloudWatchLogsUseKey")
    assert logs["Principal"]["Service"] == "logs.eu-west-1.amazonaws.com"
    role_policy = policy(net.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    resources = role_policy["Statement"][0]["Resource"]
    assert group.state["arn"] in resources and "*" not in resources


def test_security_group_rules_by_group_port_and_description(net):
    ids = sg_ids(net)
    for rule in net.of_type(INGRESS) + net.of_type(EGRESS):
        assert rule.inputs.get("description"), rule.name
    ingress = ml_api_rules(net, INGRESS)
    egress = ml_api_rules(net, EGRESS)
    for rule in ingress + egress:
        assert rule.inputs.get("description"), rule.name
    by_group = {}
    for rule in ingress:
        by_group.setdefault(rule.inputs["securityGroupId"], []).append(rule.inputs)
    (to_service,) = by_group[ids["service"]]
    assert (to_service["fromPort"], to_service["toPort"]) == (8080, 8080)
    assert to_service["referencedSecurityGroupId"] == ids["alb"]
    (to_db,) = by_group[ids["database"]]
    assert (to_db["fromPort"], to_db["toPort"]) == (5432, 5432)
    assert to_db["referencedSecurityGroupId"] == ids["service"]
    # Default: the ALB is open to nobody until the edge layer admits CloudFront.
    assert ids["alb"] not in by_group
    assert not any(r.inputs.get("cidrIpv4") == "0.0.0.0/0" for r in ingress)


def test_internet_mode_opens_only_listener_ports():
    rendered = layer_of(plan_layers("network", config={"network": {"albIngressSource": "internet"}}), "network")
    open_rules = [r.inputs for r in ml_api_rules(rendered, INGRESS) if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
    assert sorted(r["fromPort"] for r in open_rules) == [80, 443]
    alb = next(r.id for r in rendered.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name == "sg-alb")
    assert {r["securityGroupId"] for r in open_rules} == {alb}


def test_service_port_setting_moves_the_rule():
    rendered = layer_of(plan_layers("network", config={"network": {"servicePort": 9000}}), "network")
    ports = {r.inputs["fromPort"] for r in ml_api_rules(rendered, INGRESS)}
    assert 9000 in ports and 8080 not in ports
    assert rendered.outputs["servicePort"] == 9000


def test_database_port_setting_moves_both_rules_and_the_export():
    rendered = layer_of(plan_layers("network", config={"network": {"databasePort": 6543}}), "network")
    rules = [
        r.inputs
        for r in rendered.registrations
        if r.type.startswith("aws:vpc/securityGroup") and "database" in r.name and r.name.startswith("sg-")
    ]
    assert len(rules) == 2  # tasks -> database out, database <- tasks in (the payment tasks' pair: test_network_endpoints.py)
    assert all(r["fromPort"] == r["toPort"] == 6543 for r in rules)
    assert rendered.outputs["databasePort"] == 6543


def test_flow_log_retention_and_key_window_follow_the_settings():
    rendered = layer_of(plan_layers("network", config={"network": {"flowLogRetentionDays": 90}}), "network")
    assert rendered.one("aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 90
    assert rendered.one("aws:kms/key:Key").inputs["deletionWindowInDays"] == 7  # ephemeral: gone soon
    protected = layer_of(plan_layers("network", config={"network": {"protect": True}}), "network")
    assert protected.one("aws:kms/key:Key").inputs["deletionWindowInDays"] == 30


def test_named_resources_carry_the_suffix(net):
    for reg in net.registrations:
        name = reg.inputs.get("name")
        if reg.custom and isinstance(name, str) and not reg.type.startswith("pulumi:"):
            assert "netdemo" in name, (reg.type, name)
        tags = reg.inputs.get("tags")
        if isinstance(tags, dict) and "Name" in tags:
            assert "netdemo" in tags["Name"]


def test_provider_carries_region_and_default_tags(net):
    import json

    provider = net.one("pulumi:providers:aws").inputs
    assert provider["region"] == "eu-west-1"
    tags = json.loads(provider["defaultTags"])["tags"]
    assert tags == {
        "Environment": "netdemo",
        "Application": "mlapi",
        "Layer": "network",
        "ManagedBy": "pulumi",
        "Repository": "mlapi-platform",
        "Team": "platform",
        "CostCenter": "unassigned",
    }
    provider_ref_urns = {
        r.provider.split("::")[0]
        + "::"
        + r.provider.split("::")[1]
        + "::"
        + r.provider.split("::")[2]
        + "::"
        + r.provider.split("::")[3]
        for r in net.registrations
        if r.provider
    }
    assert provider_ref_urns == {net.one("pulumi:providers:aws").urn}
    assert all(r.provider for r in net.registrations if r.custom and not r.type.startswith("pulumi:"))


# -- pinned: egress and the flow-log interval -------------------------------------------------------
def _egress_of(net) -> dict[str, set[tuple[str, int, int, str]]]:
    """Security group name part -> its egress rules as (protocol, from, to, destination)."""
    names = {r.id: r.name.split("-", 1)[1] for r in net.of_type("aws:ec2/securityGroup:SecurityGroup")}
    found: dict[str, set[tuple[str, int, int, str]]] = {name: set() for name in names.values()}
    for rule in net.of_type(EGRESS):
        i = rule.inputs
        destination = (
            f"group {names[i['referencedSecurityGroupId']]}"
            if "referencedSecurityGroupId" in i
            else i.get("cidrIpv4") or i.get("cidrIpv6") or f"prefix list {i.get('prefixListId')}"
        )
        found[names[i["securityGroupId"]]].add((i["ipProtocol"], i["fromPort"], i["toPort"], destination))
    return found


def test_each_security_group_has_exactly_its_documented_egress(net):
    """ALB -> tasks on the service port; tasks -> database on its port and HTTPS out through the NAT;
    the database sends nothing. Anything wider fails here before it reaches `invoke check`."""
    egress = _egress_of(net)
    assert egress["alb"] == {("tcp", 8080, 8080, "group service")}
    assert egress["service"] == {("tcp", 5432, 5432, "group database"), ("tcp", 443, 443, "0.0.0.0/0")}
    assert egress["database"] == set()
    # No inline rules on any group (the provider would otherwise keep AWS's allow-all egress), and the
    # VPC's default group is emptied.
    assert all(not r.inputs.get("egress") for r in net.of_type("aws:ec2/securityGroup:SecurityGroup"))
    assert net.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs["egress"] == []


def test_egress_follows_the_service_and_database_ports():
    rendered = layer_of(
        plan_layers("network", env="netports", config={"network": {"servicePort": 9000, "databasePort": 6543}}), "network"
    )
    egress = _egress_of(rendered)
    assert egress["alb"] == {("tcp", 9000, 9000, "group service")}
    assert ("tcp", 6543, 6543, "group database") in egress["service"]


def test_flow_logs_aggregate_every_minute(net):
    # 60 s, not the 600 s default: a rejected probe shows up in the log group within a minute.
    assert net.one("aws:ec2/flowLog:FlowLog").inputs["maxAggregationInterval"] == 60


def test_zones_are_the_default_enabled_ones_whatever_their_current_state(monkeypatch):
    # A zone that reports impaired or constrained during an incident must not drop out of the
    # lookup: the subnets would shift zones and the next up would replace them and Aurora's instances.
    from shared import aws_types
    from shared.plan import mocks

    asked: list[dict] = []
    call = mocks.PlatformMocks.call

    def recording(self, args):
        if args.token == aws_types.GET_AVAILABILITY_ZONES:
            asked.append(dict(args.args))
        return call(self, args)

    monkeypatch.setattr(mocks.PlatformMocks, "call", recording)
    plan_layers("network", env="zones")
    assert asked and all("state" not in a for a in asked), asked
    assert all({"name": "opt-in-status", "values": ["opt-in-not-required"]} in a["filters"] for a in asked), asked
