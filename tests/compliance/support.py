"""What the compliance tests share: plan fragments, the offline runner, and one policy-pack harness
(PackRecorder) that builds what pulumi_policy hands a policy and records what it reports."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from shared import manifest
from shared.aws_types import (
    CODEDEPLOY_DEPLOYMENT_GROUP,
    ECS_SERVICE,
    LB,
    LISTENER,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    SECURITY_GROUP,
    SG_EGRESS,
    SG_INGRESS,
    STACK,
    SUBNET,
    VPC,
    VPC_ENDPOINT,
)
from shared.compliance import Scope, Status, by_id
from shared.compliance.model import Environment
from shared.compliance.pack import build_policies
from shared.compliance.plan_view import view_from_document
from shared.compliance.runner import run

ENV = "demo"


ACCOUNT = "111122223333"


KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f0e0d0c-0000-4000-8000-000000000001"


LB_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/mlapi-alb-demo/0123456789abcdef"


def res(
    type_: str,
    name: str,
    inputs: dict | None = None,
    *,
    layer: str = "data",
    state: dict | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    item = {
        "urn": f"urn:pulumi:{ENV}::mlapi-{layer}::{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": None,
        "provider": provider,
        "inputs": inputs or {},
        "layer": layer,
    }
    if state is not None:
        item["state"] = state
    return item


def fragment(*resources: dict, region: str = "us-east-1", outputs: dict | None = None) -> dict[str, Any]:
    """A format-1 plan document holding ``resources`` (grouped by their layer)."""
    layers: dict[str, list] = {}
    for item in resources:
        item = dict(item)
        layers.setdefault(item.pop("layer"), []).append(item)
    return {
        "format": 1,
        "environment": ENV,
        "region": region,
        "layers": [
            {"layer": name, "project": f"mlapi-{name}", "resources": items, "outputs": (outputs or {}).get(name, {})}
            for name, items in layers.items()
        ],
    }


def results_of(rule_id: str, document: dict, *, protect: bool = False, decommission: bool = False, twin: dict | None = None):
    view = view_from_document(document)
    if twin is not None:
        view.twin = view_from_document(twin, account=twin["account"])
    env = Environment(
        suffix=ENV,
        region=document["region"],
        protect=protect,
        protect_source="test",
        decommission=decommission,
        decommission_source="test",
    )
    return run(view, env, rules=[by_id(rule_id)]).results


def violations(rule_id: str, document: dict, **kw) -> list[str]:
    return [r.finding.message for r in results_of(rule_id, document, **kw) if r.status is Status.VIOLATION]


def policy_json(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def containers(**container: Any) -> str:
    base = {
        "name": "api",
        "image": "nginx",
        "readonlyRootFilesystem": True,
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/mlapi/demo/api"}},
        "environment": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_SECRET_ARN", "value": "arn:aws:secretsmanager:x"}],
    }
    base.update(container)
    return json.dumps([{k: v for k, v in base.items() if v is not None}])


GOOD_CERT = {
    "acmCertificateArn": "arn:aws:acm:us-east-1:1:certificate/x",
    "sslSupportMethod": "sni-only",
    "minimumProtocolVersion": "TLSv1.2_2021",
}


HTTPS_BEHAVIOR = {"viewerProtocolPolicy": "redirect-to-https", "targetOriginId": "alb"}


def lb_with(*listeners: dict, layer: str = "compute") -> list[dict]:
    lb = res(
        LB,
        "lb-alb",
        {"name": "mlapi-alb-demo", "loadBalancerType": "application", "securityGroups": ["sg-alb"]},
        layer=layer,
        state={"arn": LB_ARN, "id": LB_ARN},
    )
    return [
        lb,
        *(res(LISTENER, f"lb-{lyr['protocol'].lower()}", {"loadBalancerArn": LB_ARN, **lyr}, layer=layer) for lyr in listeners),
    ]


HTTP_REDIRECT = {
    "protocol": "HTTP",
    "port": 80,
    "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}],
}


HTTP_FORWARD = {"protocol": "HTTP", "port": 80, "defaultActions": [{"type": "forward", "targetGroupArn": "tg"}]}


HTTPS = {"protocol": "HTTPS", "port": 443, "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06", "certificateArn": "arn:cert"}


def network(public_db_subnet: bool) -> list[dict]:
    route = (
        {"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-0abc"}
        if public_db_subnet
        else {"cidrBlock": "0.0.0.0/0", "natGatewayId": "nat-0abc"}
    )
    return [
        res(SUBNET, "private-0", {"mapPublicIpOnLaunch": False}, layer="network", state={"id": "subnet-0a"}),
        res("aws:ec2/routeTable:RouteTable", "rt-0", {"routes": [route]}, layer="network", state={"id": "rtb-0a"}),
        res(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "rta-0",
            {"subnetId": "subnet-0a", "routeTableId": "rtb-0a"},
            layer="network",
        ),
        res("aws:rds/subnetGroup:SubnetGroup", "db-subnets", {"name": "mlapi-db-demo", "subnetIds": ["subnet-0a"]}),
    ]


def world_ingress(port: int) -> list[dict]:
    return [
        res(
            SECURITY_GROUP, "sg-alb", {"name": "mlapi-alb-sg-demo", "description": "ALB"}, layer="network", state={"id": "sg-alb"}
        ),
        res(
            SG_INGRESS,
            f"alb-in-{port}",
            {
                "securityGroupId": "sg-alb",
                "ipProtocol": "tcp",
                "fromPort": port,
                "toPort": port,
                "cidrIpv4": "0.0.0.0/0",
                "description": "clients",
            },
            layer="network",
        ),
        *lb_with(HTTPS),
    ]


def egress_case(
    group: str, key: str, *, protocol: str, port: int | None, layer: str = "network", **destination: str
) -> list[dict]:
    """A security group named like the layers name it (``mlapi-<group>-demo``) and one egress rule of it."""
    group_id = f"sg-{group}"
    ports = {} if port is None else {"fromPort": port, "toPort": port}
    return [
        res(SECURITY_GROUP, group, {"name": f"mlapi-{group}-{ENV}", "description": group}, layer=layer, state={"id": group_id}),
        res(
            SG_EGRESS,
            f"{group}-out-{key}-{port}",
            {"securityGroupId": group_id, "ipProtocol": protocol, "description": "out", **ports, **destination},
            layer=layer,
        ),
    ]


def cluster(instances: int) -> list[dict]:
    return [
        res(RDS_CLUSTER, "db", {"clusterIdentifier": "mlapi-db-demo"}),
        *(
            res(RDS_CLUSTER_INSTANCE, f"db-{i}", {"clusterIdentifier": "mlapi-db-demo", "identifier": f"mlapi-db-{i}-demo"})
            for i in range(instances)
        ),
    ]


def literal_case(twin_region_in_input: str) -> tuple[dict, dict]:
    """The same VPC endpoint rendered for us-east-1 and, second, for eu-west-1 with another account."""
    a = fragment(res("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", {"serviceName": "com.amazonaws.us-east-1.s3"}, layer="network"))
    b = fragment(
        res(
            "aws:ec2/vpcEndpoint:VpcEndpoint", "s3", {"serviceName": f"com.amazonaws.{twin_region_in_input}.s3"}, layer="network"
        ),
        region="eu-west-1",
    )
    b["account"] = "444455556666"
    return a, b


LIFTED_WHILE_DECOMMISSIONING = {"aurora-deletion-protection", "dynamodb-deletion-protection", "alb-deletion-protection"}


# What one stack cannot see: the pack reports "not applicable" with the reason instead.
PACK_NOT_JUDGED = {"alb-behind-waf", "no-literal-region-or-account", "alb-internet-facing-https"}


# -- the policy pack: one harness builds what pulumi_policy hands a policy and records what it reports
OPTIONS = PolicyResourceOptions(False, [], None, [], None, [], None)


def _config(protect: bool, decommission: bool = False):
    """Stack config as the engine hands it to the pack: region and every layer's `protect` (and `decommission`)."""
    layers = [layer.project for layer in manifest.LAYERS]
    values = {"aws:region": "us-east-1", **{f"{project}:protect": "true" if protect else "false" for project in layers}}
    if decommission:
        values.update({f"{project}:decommission": "true" for project in layers})
    return values.get


def engine_props(value: dict) -> Any:
    """Properties as pulumi_policy hands them to a policy: through the engine's protobuf Struct
    (every number becomes a float), the SDK's deserializer and its unknown-checking proxy."""
    from google.protobuf import json_format, struct_pb2
    from pulumi_policy.deserialize import deserialize_properties

    message = struct_pb2.Struct()
    message.update(copy.deepcopy(value))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(message)))


def resource_args(item: dict, props: Any = None, provider: PolicyProviderResource | None = None) -> ResourceValidationArgs:
    """A resource policy's arguments for one plan-document resource (its inputs, as the engine sends them)."""
    props = engine_props(item["inputs"]) if props is None else props
    return ResourceValidationArgs(item["type"], props, item["urn"], item["name"], OPTIONS, provider, {})


def stack_resource(item: dict, props: Any = None, dependencies: dict | None = None) -> PolicyResource:
    """One resource of a deployed stack for a stack policy: its outputs (``state``) with its inputs."""
    props = engine_props({**(item.get("state") or {}), **item["inputs"]}) if props is None else props
    return PolicyResource(item["type"], props, item["urn"], item["name"], OPTIONS, None, None, [], dependencies or {})


def _policy(rule_id: str, protect: bool, decommission: bool = False):
    return next(p for p in build_policies(lookup=_config(protect, decommission)) if p.name == rule_id)


@dataclass
class PackRecorder:
    """What the pack reports: each violation (message, URN) and each not-applicable reason."""

    violations: list[tuple[str, str | None]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [message for message, _ in self.violations]

    def validate(self, policy: Any, args: Any, urn: str | None = None) -> None:
        """Run one policy; a violation reported without a URN (resource policies) gets ``urn``."""
        try:
            policy.validate(args, lambda message, reported=None: self.violations.append((message, reported or urn)))
        except Exception as exc:  # pulumi_policy's not-applicable signal ends the validation
            if type(exc).__name__ != "_NotApplicableError":
                raise
            self.reasons.append(exc.reason)

    def judge(self, policy: Any, items: list[dict]) -> PackRecorder:
        """``items`` (plan-document resources of one stack) through ``policy``: a resource policy
        once per resource, a stack policy once over them all."""
        if by_id(policy.name).scope is Scope.RESOURCE:
            for item in items:
                self.validate(policy, resource_args(item), urn=item["urn"])
        else:
            self.validate(policy, StackValidationArgs([stack_resource(item) for item in items], {}))
        return self


def _run_pack(rule_id: str, items: list[dict], protect: bool, decommission: bool = False) -> tuple[list[str], str | None]:
    """Violations and the not-applicable reason the pack reports for ``items`` (one stack)."""
    recorded = PackRecorder().judge(_policy(rule_id, protect, decommission), items)
    return recorded.messages, (recorded.reasons[0] if recorded.reasons else None)


def _pack_over_layers(rule_id: str, document: dict, states: dict, protect: bool) -> tuple[list[str], list[str]]:
    """Each layer as the pack sees it (one stack): violations and not-applicable reasons of one policy.
    Resource policies get the inputs, stack policies the outputs, both in the form the engine sends."""
    policy = _policy(rule_id, protect)
    recorded = PackRecorder()
    for layer in document["layers"]:
        items = [{**r, "state": r.get("state") or states.get(r["urn"], {})} for r in layer["resources"] if r["type"] != STACK]
        recorded.judge(policy, items)
    return recorded.messages, recorded.reasons


# The fragments above are hand-made; these mutations start from what the layers really register,
# so a rule that reads a path the programs do not produce (an object where they emit a list, a key
# spelt differently) cannot pass unnoticed. Each is checked offline and through the policy pack.
def _find(document: dict, type_: str, name: str) -> dict:
    return next(r for lyr in document["layers"] for r in lyr["resources"] if r["type"] == type_ and r["name"] == name)


def _remove(document: dict, type_: str, name: str | None = None) -> None:
    for layer in document["layers"]:
        layer["resources"] = [r for r in layer["resources"] if not (r["type"] == type_ and (name is None or r["name"] == name))]


def _append(document: dict, layer: str, item: dict) -> None:
    item = dict(item)
    item.pop("layer", None)
    next(lyr for lyr in document["layers"] if lyr["layer"] == layer)["resources"].append(item)


def _edit_json(item: dict, key: str, change) -> None:
    value = json.loads(item["inputs"][key])
    change(value)
    item["inputs"][key] = json.dumps(value)


def _statement(sid: str):
    def pick(doc: dict) -> dict:
        return next(st for st in doc["Statement"] if st.get("Sid") == sid)

    return pick


def _container(change):
    return lambda defs: change(defs[0])


def _https_listener(document: dict, ssl_policy: str) -> None:
    lb_arn = _find(document, LISTENER, "lb-http")["inputs"]["loadBalancerArn"]
    _append(
        document,
        "compute",
        res(
            LISTENER,
            "lb-https",
            {
                "loadBalancerArn": lb_arn,
                "protocol": "HTTPS",
                "port": 443,
                "sslPolicy": ssl_policy,
                "certificateArn": "arn:aws:acm:us-east-1:1:certificate/x",
                "defaultActions": [{"type": "forward", "targetGroupArn": "tg"}],
            },
            layer="compute",
        ),
    )


def _world_open_service_port(document: dict) -> None:
    inputs = _find(document, SG_INGRESS, "sg-service-in-alb")["inputs"]
    inputs.pop("referencedSecurityGroupId")
    inputs["cidrIpv4"] = "0.0.0.0/0"


def _public_db_subnets(document: dict) -> None:
    network = next(lyr for lyr in document["layers"] if lyr["layer"] == "network")
    _find(document, "aws:rds/subnetGroup:SubnetGroup", "aurora-subnets")["inputs"]["subnetIds"] = network["outputs"][
        "publicSubnetIds"
    ]


def _unguarded_service_statement(doc: dict) -> None:
    _statement("ServicesUseKeyForThisAccount")(doc).pop("Condition")


NOTHING = None  # the default plan already breaks the rule once it is judged as protected


# Relations one stack cannot see: there the pack answers "not applicable" and names `invoke check`.
PACK_CROSS_STACK = {
    "alb-behind-waf",
    "database-in-private-subnets",
    "no-literal-region-or-account",
    "codedeploy-test-listener-private",
    "alb-internet-facing-https",
}


def _offline(rule_id: str, document: dict, states: dict, protect: bool):
    view = view_from_document(document, states=states)
    env = Environment(suffix=ENV, region=document["region"], protect=protect, protect_source="test")
    return [r for r in run(view, env, rules=[by_id(rule_id)]).results if r.status is Status.VIOLATION]


# -- CodeDeploy blue/green and interface endpoints (the payments layer's kinds) --------------------
TG_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/mlapi-pay-b-demo/224e2f4661dd2e3f"
PROD_LISTENER_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/mlapi-pay-demo/3d59/ea09"
TEST_LISTENER_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/mlapi-pay-demo/3d59/761a"


def deployment_group(**changes: Any) -> dict[str, Any]:
    """A deployment group as the payments layer declares it; ``changes`` replace top-level inputs
    (None removes one)."""
    inputs: dict[str, Any] = {
        "appName": "mlapi-payments-demo",
        "deploymentGroupName": "mlapi-payments-blue-green-demo",
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "ecsService": {"clusterName": "mlapi-payments-cluster-demo", "serviceName": "mlapi-payments-demo"},
        "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
        "alarmConfiguration": {"enabled": True, "alarms": ["mlapi-payments-alb-5xx-demo"]},
        "blueGreenDeploymentConfig": {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5},
        },
        "loadBalancerInfo": {
            "targetGroupPairInfo": {
                "prodTrafficRoute": {"listenerArns": [PROD_LISTENER_ARN]},
                "testTrafficRoute": {"listenerArns": [TEST_LISTENER_ARN]},
                "targetGroups": [{"name": "mlapi-pay-b-demo"}, {"name": "mlapi-pay-g-demo"}],
            }
        },
    }
    inputs.update(changes)
    return res(CODEDEPLOY_DEPLOYMENT_GROUP, "deploy-group", {k: v for k, v in inputs.items() if v is not None}, layer="payments")


def code_deploy_service(*, controller: str = "CODE_DEPLOY", name: str = "mlapi-payments-demo") -> dict[str, Any]:
    return res(
        ECS_SERVICE,
        "service",
        {
            "name": name,
            "cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/mlapi-payments-cluster-demo",
            "deploymentController": {"type": controller},
            "loadBalancers": [{"containerName": "payments", "containerPort": 8080, "targetGroupArn": TG_ARN}],
        },
        layer="payments",
    )


def exposed_test_listener(cidr: str, *, port: int = 8080) -> list[dict[str, Any]]:
    """The payments load balancer's security group admitting ``cidr`` on the test listener port,
    with the listener, the load balancer and the deployment group (one stack, so the pack can judge it)."""
    lb_arn = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/mlapi-pay-demo/3d59"
    return [
        res(
            SECURITY_GROUP,
            "payments-alb-sg",
            {"name": "mlapi-payments-alb-sg-demo", "description": "Payments load balancer"},
            layer="payments",
            state={"id": "sg-pay-alb"},
        ),
        res(
            SG_INGRESS,
            "payments-alb-in-test",
            {"securityGroupId": "sg-pay-alb", "ipProtocol": "tcp", "fromPort": port, "toPort": port, "cidrIpv4": cidr},
            layer="payments",
        ),
        res(
            LB,
            "pay-alb",
            {"name": "mlapi-pay-demo", "loadBalancerType": "application", "securityGroups": ["sg-pay-alb"]},
            layer="payments",
            state={"arn": lb_arn},
        ),
        res(
            LISTENER,
            "pay-test",
            {"loadBalancerArn": lb_arn, "port": port, "protocol": "HTTP"},
            layer="payments",
            state={"arn": TEST_LISTENER_ARN},
        ),
        deployment_group(),
    ]


def interface_endpoint(**changes: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "vpcId": "vpc-1",
        "serviceName": "com.amazonaws.us-east-1.ecr.api",
        "vpcEndpointType": "Interface",
        "privateDnsEnabled": True,
        "subnetIds": ["subnet-0a"],
        "securityGroupIds": ["sg-endpoints"],
    }
    inputs.update(changes)
    return res(VPC_ENDPOINT, "endpoints-ecr-api", {k: v for k, v in inputs.items() if v is not None}, layer="network")


def endpoint_network(*ingress: dict[str, Any], public_subnet: bool = False) -> list[dict[str, Any]]:
    """A VPC (10.0.0.0/16), one subnet (public or private), the endpoints' security group with
    ``ingress`` rules (SecurityGroupIngressRule inputs) and one interface endpoint."""
    gateway = {"gatewayId": "igw-0abc"} if public_subnet else {"natGatewayId": "nat-0abc"}
    return [
        res(VPC, "main", {"cidrBlock": "10.0.0.0/16"}, layer="network", state={"id": "vpc-1"}),
        res(SUBNET, "private-0", {"vpcId": "vpc-1"}, layer="network", state={"id": "subnet-0a"}),
        res(
            "aws:ec2/routeTable:RouteTable",
            "rt-0",
            {"routes": [{"cidrBlock": "0.0.0.0/0", **gateway}]},
            layer="network",
            state={"id": "rtb-0a"},
        ),
        res(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "rta-0",
            {"subnetId": "subnet-0a", "routeTableId": "rtb-0a"},
            layer="network",
        ),
        res(
            SECURITY_GROUP,
            "endpoints-sg",
            {"name": "mlapi-endpoints-sg-demo", "description": "endpoints"},
            layer="network",
            state={"id": "sg-endpoints"},
        ),
        *(
            res(SG_INGRESS, f"endpoints-in-{index}", {"securityGroupId": "sg-endpoints", **rule}, layer="network")
            for index, rule in enumerate(ingress)
        ),
        interface_endpoint(),
    ]


HTTPS_FROM_TASKS = {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "referencedSecurityGroupId": "sg-service"}


def _find_in(document: dict, layer: str, type_: str, name: str) -> dict:
    """A resource of one layer (compute and payments share logical names such as ``lb-alb``)."""
    found = next(lyr for lyr in document["layers"] if lyr["layer"] == layer)
    return next(r for r in found["resources"] if r["type"] == type_ and r["name"] == name)
