"""Network layer support for the payments workload: interface VPC endpoints and the payments
security groups, on by layer selection and by setting, rendered through the real program."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import layer_of, plan_layers

from mlapi_network.settings import INTERFACE_ENDPOINT_SERVICES, NetworkSettings
from shared import manifest
from shared.compliance import Status
from shared.compliance.model import Environment
from shared.compliance.plan_view import view_from_document
from shared.compliance.runner import run
from shared.config import ConfigReader
from shared.errors import ConfigError
from shared.settings import EnvironmentSettings

SG = "aws:ec2/securityGroup:SecurityGroup"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SUBNET = "aws:ec2/subnet:Subnet"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
REGION = "eu-west-1"
WITHOUT_PAYMENTS = ["network", "data", "compute", "edge"]


@pytest.fixture(scope="module")
def payments_layer() -> Iterator[None]:
    """Let an environment select the payments layer even before the manifest lists it (helper P2
    adds its entry); a no-op once it does."""
    with pytest.MonkeyPatch.context() as patch:
        if "payments" not in [layer.name for layer in manifest.LAYERS]:
            layers = (*manifest.LAYERS, manifest.Layer("payments", ("network", "data"), "payments workload"))
            select = manifest.select

            def with_payments(names: Any, *, setting: str = "layers", layers: tuple[manifest.Layer, ...] = layers) -> Any:
                return select(names, setting=setting, layers=layers)

            patch.setattr(manifest, "select", with_payments)
        yield


def render(config: dict[str, Any] | None = None):
    return layer_of(plan_layers("network", env="paydemo", region=REGION, config={"network": config or {}}), "network")


@pytest.fixture(scope="module")
def paid(payments_layer):
    """An environment with both workloads, every network setting at its default."""
    return render({"layers": ["network", "data", "compute", "payments"]})


@pytest.fixture(scope="module")
def payments_only(payments_layer):
    """A payments-only environment (no ML API workload)."""
    return plan_layers("network", env="paydemo", region=REGION, config={"network": {"layers": ["network", "data", "payments"]}})


def groups(net) -> dict[str, Any]:
    """Security group id by its Name tag's middle part (``mlapi-payments-alb-sg-paydemo`` -> ``payments-alb``)."""
    return {r.inputs["name"][len("mlapi-") : -len("-sg-paydemo")]: r.id for r in net.of_type(SG)}


def rules(net, type_token: str, group_id: str) -> list[tuple[int, int, str]]:
    """(from port, to port, peer) of every rule of ``type_token`` on ``group_id``; peer is a CIDR or a group id."""
    return sorted(
        (r.inputs["fromPort"], r.inputs["toPort"], r.inputs.get("cidrIpv4") or r.inputs["referencedSecurityGroupId"])
        for r in net.of_type(type_token)
        if r.inputs["securityGroupId"] == group_id and r.inputs["ipProtocol"] == "tcp"
    )


def all_rules_on(net, group_id: str) -> list[dict[str, Any]]:
    return [r.inputs for r in net.of_type(INGRESS) + net.of_type(EGRESS) if r.inputs["securityGroupId"] == group_id]


# --- interface endpoints ---------------------------------------------------------------------


def test_four_interface_endpoints_with_private_dns_in_every_private_subnet(paid):
    private_subnets = sorted(s.id for s in paid.of_type(SUBNET) if s.inputs["tags"]["Tier"] == "private")
    endpoint_sg = groups(paid)["endpoints"]
    interface = [e.inputs for e in paid.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]
    assert sorted(e["serviceName"] for e in interface) == [
        "com.amazonaws.eu-west-1.ecr.api",
        "com.amazonaws.eu-west-1.ecr.dkr",
        "com.amazonaws.eu-west-1.logs",
        "com.amazonaws.eu-west-1.secretsmanager",
    ]
    for e in interface:
        assert e["privateDnsEnabled"] is True, e["serviceName"]
        assert sorted(e["subnetIds"]) == private_subnets and len(private_subnets) == 3  # one ENI per AZ
        assert e["securityGroupIds"] == [endpoint_sg]
        assert e["vpcId"] == paid.one("aws:ec2/vpc:Vpc").id
        assert "routeTableIds" not in e


def test_s3_gateway_endpoint_for_image_layers_stays_on_the_private_route_tables(paid):
    private_tables = sorted(t.id for t in paid.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name)
    (s3,) = [e.inputs for e in paid.of_type(ENDPOINT) if e.inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"]
    assert s3["vpcEndpointType"] == "Gateway" and sorted(s3["routeTableIds"]) == private_tables


def test_endpoint_group_admits_https_from_the_service_groups_only_and_sends_nothing(paid):
    ids = groups(paid)
    endpoint_sg = ids["endpoints"]
    assert rules(paid, INGRESS, endpoint_sg) == sorted([(443, 443, ids["service"]), (443, 443, ids["payments-service"])])
    assert rules(paid, EGRESS, endpoint_sg) == []
    assert all(r["ipProtocol"] == "tcp" and "cidrIpv4" not in r for r in all_rules_on(paid, endpoint_sg))


def test_contract_outputs_name_the_endpoints_and_the_payments_groups(paid):
    ids = groups(paid)
    out = paid.outputs
    by_service = {e.inputs["serviceName"].removeprefix(f"com.amazonaws.{REGION}."): e.id for e in paid.of_type(ENDPOINT)}
    assert out["interfaceEndpointIds"] == {s: by_service[s] for s in INTERFACE_ENDPOINT_SERVICES}
    assert out["endpointSecurityGroupId"] == ids["endpoints"]
    assert out["paymentsAlbSecurityGroupId"] == ids["payments-alb"]
    assert out["paymentsServiceSecurityGroupId"] == ids["payments-service"]
    assert out["paymentsServicePort"] == 8080


# --- payments security groups ----------------------------------------------------------------


def test_payments_load_balancer_group_opens_production_to_clients_and_test_to_the_vpc_only(paid):
    ids = groups(paid)
    alb = ids["payments-alb"]
    assert rules(paid, INGRESS, alb) == [(80, 80, "0.0.0.0/0"), (8080, 8080, "10.0.0.0/16")]
    assert rules(paid, EGRESS, alb) == [(8080, 8080, ids["payments-service"])]
    for rule in all_rules_on(paid, alb):
        assert rule["description"]


def test_payments_tasks_reachable_only_from_their_load_balancer(paid):
    ids = groups(paid)
    service = ids["payments-service"]
    assert rules(paid, INGRESS, service) == [(8080, 8080, ids["payments-alb"])]
    assert rules(paid, EGRESS, service) == sorted([(443, 443, "0.0.0.0/0"), (5432, 5432, ids["database"])])
    # The ML API's load balancer does not reach the payment tasks, nor the payment ALB the ML API's.
    assert rules(paid, EGRESS, ids["alb"]) == [(8080, 8080, ids["service"])]


def test_database_admits_payments_tasks_on_its_port_only(paid):
    ids = groups(paid)
    assert rules(paid, INGRESS, ids["database"]) == sorted([(5432, 5432, ids["service"]), (5432, 5432, ids["payments-service"])])
    assert rules(paid, EGRESS, ids["database"]) == []


def test_payments_only_environment_admits_only_the_payment_tasks_to_the_endpoints(payments_only):
    net = layer_of(payments_only, "network")
    ids = groups(net)
    assert rules(net, INGRESS, ids["endpoints"]) == [(443, 443, ids["payments-service"])]


def test_network_with_payments_passes_every_compliance_rule(payments_only):
    view = view_from_document(payments_only.document(), whole=False)
    env = Environment(
        suffix="paydemo", region=REGION, protect=False, protect_source="test", decommission=False, decommission_source="test"
    )
    report = run(view, env)
    assert report.passed, report.format()
    assert not [r for r in report.results if r.status is Status.VIOLATION]


# --- on and off ------------------------------------------------------------------------------


def test_without_payments_nothing_is_added_and_the_outputs_are_empty():
    net = render({"layers": WITHOUT_PAYMENTS})
    assert [e.inputs["vpcEndpointType"] for e in net.of_type(ENDPOINT)] == ["Gateway", "Gateway"]
    assert sorted(groups(net)) == ["alb", "database", "service"]
    assert not [r for r in net.registrations if "payments" in r.name]
    out = net.outputs
    assert (out["paymentsAlbSecurityGroupId"], out["paymentsServiceSecurityGroupId"], out["paymentsServicePort"]) == ("", "", 0)
    assert (out["endpointSecurityGroupId"], out["interfaceEndpointIds"]) == ("", {})


def test_interface_endpoints_forced_on_without_payments_admit_the_ml_api_tasks_only():
    net = render({"layers": WITHOUT_PAYMENTS, "interfaceEndpoints": "on"})
    ids = groups(net)
    assert sorted(ids) == ["alb", "database", "endpoints", "service"]
    assert rules(net, INGRESS, ids["endpoints"]) == [(443, 443, ids["service"])]
    assert len([e for e in net.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]) == 4
    assert net.outputs["paymentsAlbSecurityGroupId"] == "" and len(net.outputs["interfaceEndpointIds"]) == 4


def test_interface_endpoints_forced_off_keep_the_payments_groups_and_their_settings(payments_layer):
    net = render(
        {
            "layers": ["network", "data", "payments"],
            "interfaceEndpoints": "off",
            "databasePort": 6543,
            "paymentsServicePort": 9000,
            "paymentsListenerPorts": [443],
            "paymentsTestListenerPort": 8443,
            "paymentsAlbIngressCidrs": ["203.0.113.0/24", "198.51.100.0/24"],
            "paymentsTestListenerCidrs": ["10.0.0.0/16", "192.0.2.0/24"],
        }
    )
    ids = groups(net)
    assert sorted(ids) == ["alb", "database", "payments-alb", "payments-service", "service"]
    assert not [e for e in net.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]
    assert rules(net, INGRESS, ids["payments-alb"]) == [
        (443, 443, "198.51.100.0/24"),
        (443, 443, "203.0.113.0/24"),
        (8443, 8443, "10.0.0.0/16"),
        (8443, 8443, "192.0.2.0/24"),
    ]
    assert rules(net, INGRESS, ids["payments-service"]) == [(9000, 9000, ids["payments-alb"])]
    assert rules(net, EGRESS, ids["payments-alb"]) == [(9000, 9000, ids["payments-service"])]
    assert rules(net, EGRESS, ids["payments-service"]) == sorted([(443, 443, "0.0.0.0/0"), (6543, 6543, ids["database"])])
    assert (6543, 6543, ids["payments-service"]) in rules(net, INGRESS, ids["database"])
    assert net.outputs["paymentsServicePort"] == 9000
    assert (net.outputs["endpointSecurityGroupId"], net.outputs["interfaceEndpointIds"]) == ("", {})


def test_payments_ingress_rules_are_named_after_their_network_so_a_list_change_touches_only_its_own(payments_layer, aliases):
    # By position, removing the first CIDR would change every later rule to its neighbour's network
    # (a duplicate EC2 refuses); by network, the others keep their names and values. The alias keeps
    # the rules of an environment deployed with positional names in place.
    def named(cidrs: list[str]) -> dict[str, Any]:
        net = render(
            {"layers": ["network", "data", "payments"], "paymentsAlbIngressCidrs": cidrs, "paymentsListenerPorts": [443]}
        )
        return {r.name: r for r in net.of_type(INGRESS) if "-alb-in-443-" in r.name}

    both = named(["203.0.113.0/24", "198.51.100.0/24"])
    assert "payments-sg-alb-in-443-0" in aliases["payments-sg-alb-in-443-203-0-113-0-24"]
    assert "payments-sg-alb-in-443-1" in aliases["payments-sg-alb-in-443-198-51-100-0-24"]
    one = named(["198.51.100.0/24"])
    assert set(both) == {"payments-sg-alb-in-443-203-0-113-0-24", "payments-sg-alb-in-443-198-51-100-0-24"}
    assert set(one) == {"payments-sg-alb-in-443-198-51-100-0-24"}
    assert one["payments-sg-alb-in-443-198-51-100-0-24"].inputs["cidrIpv4"] == "198.51.100.0/24"


def test_default_follows_whether_the_manifest_has_the_payments_layer():
    """With no `layers` selection an environment has every manifest layer: endpoints and payment
    groups appear exactly when payments is one of them (it is, once helper P2's layer is merged)."""
    net = render()
    has_payments = "payments" in [layer.name for layer in manifest.select(())]
    assert bool(net.outputs["interfaceEndpointIds"]) is has_payments
    assert bool(net.outputs["paymentsServiceSecurityGroupId"]) is has_payments


# --- settings --------------------------------------------------------------------------------


def settings(config: dict[str, Any] | None = None, layers: tuple[str, ...] = ()) -> NetworkSettings:
    env = EnvironmentSettings(
        layer="network",
        project="mlapi-network",
        stack="demo",
        suffix="demo",
        region="us-east-1",
        protect=False,
        decommission=False,
        team="platform",
        cost_center="unassigned",
        repository="mlapi-platform",
        pulumi_org="organization",
        layers=layers,
    )
    return NetworkSettings.load(ConfigReader("mlapi-network", dict(config or {}).get), env)


@pytest.mark.parametrize(
    ("layers", "setting", "expected"),
    [
        (("network", "data", "payments"), "auto", True),
        (("network", "data", "compute"), "auto", False),
        ((), "auto", True),  # no selection at all: every layer
        (("network", "data", "compute"), "on", True),
        (("network", "data", "payments"), "off", False),
    ],
)
def test_interface_endpoints_auto_on_off(layers, setting, expected):
    assert settings({"interfaceEndpoints": setting}, layers).interface_endpoints is expected


def test_test_listener_defaults_to_the_vpc_cidr_it_is_given():
    assert settings({"vpcCidr": "172.20.0.0/20"}).payments_test_listener_cidrs == ("172.20.0.0/20",)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("interfaceEndpoints", "yes", "allowed values are auto, on, off"),
        ("paymentsServicePort", "80", "from 1024 to 65535"),
        ("paymentsListenerPorts", "[]", "at least one port"),
        ("paymentsListenerPorts", "[80, 70000]", "port numbers from 1 to 65535"),
        ("paymentsTestListenerPort", "80", "a port other than the production listener ports 80"),
        ("paymentsTestListenerCidrs", '["0.0.0.0/0"]', "not 0.0.0.0/0"),
        ("paymentsTestListenerCidrs", '["10.0.0.1/16"]', "IPv4 networks in CIDR form"),
        ("paymentsAlbIngressCidrs", '["internet"]', "IPv4 networks in CIDR form"),
        # Normalised first: 203.0.113.0/24 twice would be two identical rules, which EC2 refuses.
        ("paymentsAlbIngressCidrs", '["203.0.113.0/24", "198.51.100.0/24", "203.0.113.0/24"]', "203.0.113.0/24 is listed more"),
        ("paymentsTestListenerCidrs", '["10.0.0.0/16", "10.0.0.0/16"]', "each network once"),
    ],
)
def test_bad_values_name_the_setting_and_what_is_allowed(key, value, allowed):
    with pytest.raises(ConfigError, match=f"mlapi-network:{key}") as err:
        settings({key: value}, ("network", "data", "payments"))
    assert allowed in str(err.value)


def test_bad_value_stops_the_network_program():
    with pytest.raises(ConfigError, match="mlapi-network:interfaceEndpoints"):
        plan_layers("network", config={"network": {"interfaceEndpoints": "always"}})
