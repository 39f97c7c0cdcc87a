"""Compliance rules (shared/compliance): each rule on small hand-made plan fragments, the same rules
through the policy pack's adapters (and the real pack over gRPC), and the default environment's
whole plan through `invoke check`."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT
from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UnknownValueError, unknown_checking_proxy

from shared.compliance import REGISTRY, AppliesTo, Scope, Status, by_id
from shared.compliance.model import Environment
from shared.compliance.offline import resolve_decommission, resolve_protect
from shared.compliance.pack import build_policies, environment
from shared.compliance.plan_view import view_from_document
from shared.compliance.runner import run

ENV = "demo"
ACCOUNT = "111122223333"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f0e0d0c-0000-4000-8000-000000000001"
LB_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/mlapi-alb-demo/0123456789abcdef"


# -- plan fragments ---------------------------------------------------------------------------------
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


KMS, CLUSTER, INSTANCE = "aws:kms/key:Key", "aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance"
TABLE, SECRET, LOG_GROUP = "aws:dynamodb/table:Table", "aws:secretsmanager/secret:Secret", "aws:cloudwatch/logGroup:LogGroup"
SG, INGRESS = "aws:ec2/securityGroup:SecurityGroup", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
VPC, SUBNET = "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet"
LB, LISTENER = "aws:lb/loadBalancer:LoadBalancer", "aws:lb/listener:Listener"
DIST, ACL = "aws:cloudfront/distribution:Distribution", "aws:wafv2/webAcl:WebAcl"
TASKDEF, REPO = "aws:ecs/taskDefinition:TaskDefinition", "aws:ecr/repository:Repository"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

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
        res(SG, "sg-alb", {"name": "mlapi-alb-sg-demo", "description": "ALB"}, layer="network", state={"id": "sg-alb"}),
        res(
            INGRESS,
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


def cluster(instances: int) -> list[dict]:
    return [
        res(CLUSTER, "db", {"clusterIdentifier": "mlapi-db-demo"}),
        *(
            res(INSTANCE, f"db-{i}", {"clusterIdentifier": "mlapi-db-demo", "identifier": f"mlapi-db-{i}-demo"})
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


# rule id -> (passing fragment, failing fragment, text the failure must contain, protect)
CASES: dict[str, tuple[list[dict], list[dict], str, bool]] = {
    "kms-key-rotation": (
        [res(KMS, "k", {"enableKeyRotation": True})],
        [res(KMS, "k", {"enableKeyRotation": False})],
        "rotation is off",
        False,
    ),
    "kms-key-not-public": (
        [
            res(
                KMS,
                "k",
                {
                    "enableKeyRotation": True,
                    "policy": policy_json(
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "*"},
                            "Action": "kms:Decrypt",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}},
                        }
                    ),
                },
            )
        ],
        [
            res(
                KMS,
                "k",
                {
                    "enableKeyRotation": True,
                    "policy": policy_json(
                        {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
                    ),
                },
            )
        ],
        "'Open' allows Principal '*'",
        False,
    ),
    "aurora-encrypted-cmk": (
        [res(CLUSTER, "db", {"storageEncrypted": True, "kmsKeyId": KEY_ARN})],
        [res(CLUSTER, "db", {"storageEncrypted": True})],
        "customer-managed",
        False,
    ),
    "dynamodb-encrypted-cmk": (
        [res(TABLE, "t", {"serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN}})],
        [res(TABLE, "t", {})],
        "not enabled",
        False,
    ),
    "secret-encrypted-cmk": (
        [res(SECRET, "s", {"kmsKeyId": KEY_ARN})],
        [res(SECRET, "s", {"kmsKeyId": "alias/aws/secretsmanager"})],
        "AWS-managed key",
        False,
    ),
    "log-group-encrypted-cmk": (
        [res(LOG_GROUP, "lg", {"kmsKeyId": KEY_ARN})],
        [res(LOG_GROUP, "lg", {"retentionInDays": 7})],
        "customer-managed",
        False,
    ),
    "log-group-retention": (
        [res(LOG_GROUP, "lg", {"retentionInDays": 30})],
        [res(LOG_GROUP, "lg", {"retentionInDays": 0})],
        "forever",
        False,
    ),
    "database-not-public": (
        [res(INSTANCE, "i", {"publiclyAccessible": False})],
        [res(INSTANCE, "i", {"publiclyAccessible": True})],
        "publiclyAccessible",
        False,
    ),
    "database-in-private-subnets": (network(public_db_subnet=False), network(public_db_subnet=True), "internet gateway", False),
    "rds-managed-master-password": (
        [res(CLUSTER, "db", {"manageMasterUserPassword": True})],
        [res(CLUSTER, "db", {"masterPassword": "hunter2"})],
        "masterPassword is set",
        False,
    ),
    "aurora-deletion-protection": (
        [res(CLUSTER, "db", {"deletionProtection": True})],
        [res(CLUSTER, "db", {"deletionProtection": False})],
        "deletionProtection",
        True,
    ),
    "aurora-final-snapshot": (
        [res(CLUSTER, "db", {"skipFinalSnapshot": False, "finalSnapshotIdentifier": "mlapi-final-demo"})],
        [res(CLUSTER, "db", {"skipFinalSnapshot": True})],
        "loses its data",
        True,
    ),
    "aurora-multi-az": (cluster(2), cluster(1), "1 instance(s)", True),
    "dynamodb-deletion-protection": (
        [res(TABLE, "t", {"deletionProtectionEnabled": True})],
        [res(TABLE, "t", {})],
        "deletionProtectionEnabled",
        True,
    ),
    "dynamodb-point-in-time-recovery": (
        [res(TABLE, "t", {"pointInTimeRecovery": {"enabled": True}})],
        [res(TABLE, "t", {"pointInTimeRecovery": {"enabled": False}})],
        "recovery is off",
        True,
    ),
    "ephemeral-destroyable": (
        [res(LB, "lb", {"enableDeletionProtection": False}, layer="compute")],
        [res(LB, "lb", {"enableDeletionProtection": True}, layer="compute")],
        "`pulumi destroy` fails",
        False,
    ),
    "secret-rotation": (
        [
            res(SECRET, "s", {"name": "mlapi-app-demo"}, state={"arn": "arn:secret:s"}),
            res("aws:secretsmanager/secretRotation:SecretRotation", "r", {"secretId": "arn:secret:s"}),
        ],
        [res(SECRET, "s", {"name": "mlapi-app-demo"}, state={"arn": "arn:secret:s"})],
        "no SecretRotation",
        False,
    ),
    "subnet-no-auto-public-ip": (
        [res(SUBNET, "s", {"mapPublicIpOnLaunch": False}, layer="network")],
        [res(SUBNET, "s", {"mapPublicIpOnLaunch": True}, layer="network")],
        "mapPublicIpOnLaunch",
        False,
    ),
    "sg-no-world-ingress": (world_ingress(443), world_ingress(22), "port 22 is open to 0.0.0.0/0", False),
    "sg-rule-descriptions": (
        [res(SG, "sg", {"description": "ALB", "ingress": [{"description": "clients", "fromPort": 443}]}, layer="network")],
        [res(SG, "sg", {"description": "ALB"}, layer="network"), res(INGRESS, "in", {"ipProtocol": "tcp"}, layer="network")],
        "no description",
        False,
    ),
    "default-sg-closed": (
        [
            res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"}),
            res(
                "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                "default",
                {"vpcId": "vpc-1", "ingress": [], "egress": []},
                layer="network",
            ),
        ],
        [res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"})],
        "keeps AWS's allow rules",
        False,
    ),
    "vpc-flow-logs": (
        [
            res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"}),
            res("aws:ec2/flowLog:FlowLog", "fl", {"vpcId": "vpc-1", "trafficType": "ALL"}, layer="network"),
        ],
        [res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"})],
        "no flow log",
        False,
    ),
    "task-no-public-ip": (
        [res("aws:ecs/service:Service", "svc", {"networkConfiguration": {"assignPublicIp": False}}, layer="compute")],
        [res("aws:ecs/service:Service", "svc", {"networkConfiguration": {"assignPublicIp": True}}, layer="compute")],
        "assignPublicIp",
        False,
    ),
    "alb-drop-invalid-headers": (
        [res(LB, "lb", {"dropInvalidHeaderFields": True}, layer="compute")],
        [res(LB, "lb", {}, layer="compute")],
        "dropInvalidHeaderFields",
        False,
    ),
    "alb-https-redirect": (lb_with(HTTPS, HTTP_REDIRECT), lb_with(HTTPS, HTTP_FORWARD), "serves plain HTTP", False),
    "alb-tls-policy": (
        [res(LISTENER, "l", HTTPS, layer="compute")],
        [res(LISTENER, "l", {**HTTPS, "sslPolicy": "ELBSecurityPolicy-2016-08"}, layer="compute")],
        "older than 1.2",
        False,
    ),
    "alb-behind-waf": (
        [*lb_with(), res("aws:wafv2/webAclAssociation:WebAclAssociation", "assoc", {"resourceArn": LB_ARN}, layer="edge")],
        lb_with(),
        "not behind a WAF",
        False,
    ),
    "alb-deletion-protection": (
        [res(LB, "lb", {"enableDeletionProtection": True}, layer="compute")],
        [res(LB, "lb", {}, layer="compute")],
        "enableDeletionProtection",
        True,
    ),
    "cloudfront-https-viewers": (
        [res(DIST, "cdn", {"defaultCacheBehavior": HTTPS_BEHAVIOR}, layer="edge")],
        [res(DIST, "cdn", {"defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"}}, layer="edge")],
        "allows plain HTTP",
        False,
    ),
    "cloudfront-custom-certificate": (
        [res(DIST, "cdn", {"viewerCertificate": GOOD_CERT}, layer="edge")],
        [res(DIST, "cdn", {"viewerCertificate": {"cloudfrontDefaultCertificate": True}}, layer="edge")],
        "default *.cloudfront.net",
        True,
    ),
    "cloudfront-tls12": (
        [res(DIST, "cdn", {"viewerCertificate": GOOD_CERT}, layer="edge")],
        [res(DIST, "cdn", {"viewerCertificate": {**GOOD_CERT, "minimumProtocolVersion": "TLSv1_2016"}}, layer="edge")],
        "older than 1.2",
        False,
    ),
    "cloudfront-waf": (
        [res(DIST, "cdn", {"webAclId": "arn:aws:wafv2:us-east-1:1:global/webacl/x/y"}, layer="edge")],
        [res(DIST, "cdn", {}, layer="edge")],
        "not behind a WAF",
        False,
    ),
    "cloudfront-origin-https": (
        [
            res(
                DIST,
                "cdn",
                {
                    "origins": [
                        {
                            "originId": "alb",
                            "customOriginConfig": {"originProtocolPolicy": "https-only", "originSslProtocols": ["TLSv1.2"]},
                        }
                    ]
                },
                layer="edge",
            )
        ],
        [
            res(
                DIST,
                "cdn",
                {"origins": [{"originId": "alb", "customOriginConfig": {"originProtocolPolicy": "http-only"}}]},
                layer="edge",
            )
        ],
        "originProtocolPolicy=http-only",
        True,
    ),
    "waf-has-rules": (
        [res(ACL, "acl", {"rules": [{"name": "common"}]}, layer="edge")],
        [res(ACL, "acl", {"rules": []}, layer="edge")],
        "no rules",
        False,
    ),
    "waf-logging": (
        [
            res(ACL, "acl", {}, layer="edge", state={"arn": "arn:acl"}),
            res(
                "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "log", {"resourceArn": "arn:acl"}, layer="edge"
            ),
        ],
        [res(ACL, "acl", {}, layer="edge", state={"arn": "arn:acl"})],
        "not recorded",
        False,
    ),
    "iam-no-wildcard-actions": (
        [
            res(
                ROLE_POLICY,
                "p",
                {"policy": policy_json({"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": ["arn:log"]})},
            )
        ],
        [
            res(
                ROLE_POLICY,
                "p",
                {"policy": policy_json({"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": ["arn:b"]})},
            )
        ],
        "allows s3:*",
        False,
    ),
    "iam-no-wildcard-resource": (
        [
            res(
                ROLE_POLICY,
                "p",
                {
                    "policy": policy_json({"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}),
                },
            )
        ],
        [
            res(
                ROLE_POLICY,
                "p",
                {"policy": policy_json({"Sid": "Read", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"})},
            )
        ],
        "dynamodb:GetItem on Resource '*'",
        False,
    ),
    "ecs-distinct-task-roles": (
        [res(TASKDEF, "td", {"taskRoleArn": "arn:role/task", "executionRoleArn": "arn:role/exec"}, layer="compute")],
        [res(TASKDEF, "td", {"taskRoleArn": "arn:role/one", "executionRoleArn": "arn:role/one"}, layer="compute")],
        "same role",
        False,
    ),
    "ecs-container-insights": (
        [res("aws:ecs/cluster:Cluster", "c", {"settings": [{"name": "containerInsights", "value": "enabled"}]}, layer="compute")],
        [res("aws:ecs/cluster:Cluster", "c", {}, layer="compute")],
        "not enabled",
        False,
    ),
    "ecs-container-logging": (
        [res(TASKDEF, "td", {"containerDefinitions": containers()}, layer="compute")],
        [res(TASKDEF, "td", {"containerDefinitions": containers(logConfiguration=None)}, layer="compute")],
        "no logConfiguration",
        False,
    ),
    "ecs-no-secrets-in-environment": (
        [res(TASKDEF, "td", {"containerDefinitions": containers()}, layer="compute")],
        [
            res(
                TASKDEF,
                "td",
                {"containerDefinitions": containers(environment=[{"name": "DB_PASSWORD", "value": "hunter2"}])},
                layer="compute",
            )
        ],
        "DB_PASSWORD looks like a credential",
        False,
    ),
    "ecs-readonly-root-filesystem": (
        [res(TASKDEF, "td", {"containerDefinitions": containers()}, layer="compute")],
        [res(TASKDEF, "td", {"containerDefinitions": containers(readonlyRootFilesystem=None)}, layer="compute")],
        "root filesystem",
        False,
    ),
    "ecs-not-privileged": (
        [res(TASKDEF, "td", {"containerDefinitions": containers()}, layer="compute")],
        [res(TASKDEF, "td", {"containerDefinitions": containers(privileged=True)}, layer="compute")],
        "is privileged",
        False,
    ),
    "ecr-scan-on-push": (
        [res(REPO, "r", {"imageScanningConfiguration": {"scanOnPush": True}}, layer="compute")],
        [res(REPO, "r", {}, layer="compute")],
        "scanOnPush",
        False,
    ),
    "ecr-immutable-tags": (
        [res(REPO, "r", {"imageTagMutability": "IMMUTABLE"}, layer="compute")],
        [res(REPO, "r", {"imageTagMutability": "MUTABLE"}, layer="compute")],
        "MUTABLE",
        False,
    ),
    "ecr-lifecycle-policy": (
        [
            res(REPO, "r", {"name": "mlapi-api-demo"}, layer="compute"),
            res("aws:ecr/lifecyclePolicy:LifecyclePolicy", "lp", {"repository": "mlapi-api-demo"}, layer="compute"),
        ],
        [res(REPO, "r", {"name": "mlapi-api-demo"}, layer="compute")],
        "no lifecycle policy",
        False,
    ),
    "names-carry-suffix": (
        [res(SG, "sg", {"name": "mlapi-alb-sg-demo", "tags": {"Name": "mlapi-alb-sg-demo"}}, layer="network")],
        [res(SG, "sg", {"name": "mlapi-alb-sg-demonstration"}, layer="network")],
        "does not contain the environment suffix 'demo'",
        False,
    ),
    # Judged by comparing two renderings: see the literal tests below.
    "no-literal-region-or-account": ([], [], "", False),
}


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


# -- details of single rules ----------------------------------------------------------------------
def test_asymmetric_keys_cannot_rotate_and_are_not_flagged():
    key = res(KMS, "k", {"keySpec": "RSA_2048", "customerMasterKeySpec": "RSA_2048"})
    assert violations("kms-key-rotation", fragment(key)) == []


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


def test_no_redirect_is_required_without_a_certificate():
    assert violations("alb-https-redirect", fragment(*lb_with(HTTP_FORWARD))) == []


def test_ssm_messages_wildcard_action_is_refused_but_the_channel_actions_are_accepted_on_star():
    channels = [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    ]
    good = res(ROLE_POLICY, "p", {"policy": policy_json({"Effect": "Allow", "Action": channels, "Resource": "*"})})
    bad = res(ROLE_POLICY, "p", {"policy": policy_json({"Effect": "Allow", "Action": "ssmmessages:*", "Resource": "*"})})
    assert violations("iam-no-wildcard-actions", fragment(good)) == violations("iam-no-wildcard-resource", fragment(good)) == []
    assert violations("iam-no-wildcard-actions", fragment(bad))
    assert violations("iam-no-wildcard-resource", fragment(bad))


def test_role_inline_policies_are_checked_and_key_policies_are_exempt_from_resource_star():
    role = res(
        "aws:iam/role:Role",
        "r",
        {"inlinePolicies": [{"name": "x", "policy": policy_json({"Effect": "Allow", "Action": "*", "Resource": "*"})}]},
    )
    assert any("allows *" in m for m in violations("iam-no-wildcard-actions", fragment(role)))
    key = res(
        KMS,
        "k",
        {
            "enableKeyRotation": True,
            "policy": policy_json({"Effect": "Allow", "Principal": {"AWS": "arn:root"}, "Action": "kms:*", "Resource": "*"}),
        },
    )
    assert violations("iam-no-wildcard-resource", fragment(key)) == []


def test_a_secret_interpolated_into_container_definitions_is_flagged():
    task = res(TASKDEF, "td", {"containerDefinitions": "[secret]"}, layer="compute")
    assert violations("ecs-no-secrets-in-environment", fragment(task)) == [
        "containerDefinitions is a secret value: a secret was interpolated into the task definition"
    ]


def test_aws_keys_in_environment_are_flagged_by_name_and_by_value():
    by_name = containers(environment=[{"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}])
    fake_key_id = "AKIA" + "ABCDEFGHIJKLMNOP"  # the shape of an access key id, built here so no scanner takes it for one
    by_value = containers(environment=[{"name": "UPSTREAM", "value": fake_key_id}])
    harmless = containers(
        environment=[{"name": "TOKEN_TTL", "value": "3600"}, {"name": "DB_PASSWORD_SECRET_ARN", "value": "arn:aws:x"}]
    )
    for defs, expected in ((by_name, 1), (by_value, 1), (harmless, 0)):
        found = violations(
            "ecs-no-secrets-in-environment", fragment(res(TASKDEF, "td", {"containerDefinitions": defs}, layer="compute"))
        )
        assert len(found) == expected, (defs, found)


def test_task_role_carrying_the_execution_policy_is_flagged():
    task = res(TASKDEF, "td", {"taskRoleArn": "arn:role/task", "executionRoleArn": "arn:role/exec"}, layer="compute")
    role = res("aws:iam/role:Role", "task-role", {"name": "mlapi-task-demo"}, layer="compute", state={"arn": "arn:role/task"})
    attachment = res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "att",
        {"role": "mlapi-task-demo", "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"},
        layer="compute",
    )
    assert violations("ecs-distinct-task-roles", fragment(task, role, attachment)) == [
        "the task role has AmazonECSTaskExecutionRolePolicy attached"
    ]


def test_log_group_paths_and_kms_aliases_carry_the_suffix_as_a_path_segment():
    good = [res(LOG_GROUP, "lg", {"name": "/mlapi/demo/api"}), res("aws:kms/alias:Alias", "a", {"name": "alias/mlapi-data-demo"})]
    assert violations("names-carry-suffix", fragment(*good)) == []
    # An engine family is not a name; a task definition's family is.
    params = res(
        "aws:rds/clusterParameterGroup:ClusterParameterGroup", "pg", {"name": "mlapi-pg-demo", "family": "aurora-postgresql16"}
    )
    assert violations("names-carry-suffix", fragment(params)) == []
    task = res(TASKDEF, "td", {"family": "api"}, layer="compute")
    assert violations("names-carry-suffix", fragment(task)) == ["family 'api' does not contain the environment suffix 'demo'"]
    # DNS names are not resource names of their own.
    assert violations("names-carry-suffix", fragment(res("aws:route53/record:Record", "r", {"name": "api.example.com"}))) == []


def test_flow_logs_of_accepted_traffic_only_do_not_count():
    vpc = res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"})
    for traffic, flagged in (("ACCEPT", True), ("REJECT", False), ("ALL", False)):
        log = res("aws:ec2/flowLog:FlowLog", "fl", {"vpcId": "vpc-1", "trafficType": traffic}, layer="network")
        assert bool(violations("vpc-flow-logs", fragment(vpc, log))) is flagged, traffic


def test_two_instances_pinned_to_one_zone_are_not_multi_az():
    def instances(*zones: str) -> dict:
        members = [
            res(INSTANCE, f"db-{i}", {"clusterIdentifier": "mlapi-db-demo", "availabilityZone": zone})
            for i, zone in enumerate(zones)
        ]
        return fragment(res(CLUSTER, "db", {"clusterIdentifier": "mlapi-db-demo"}), *members)

    assert "pinned to us-east-1a" in violations("aurora-multi-az", instances("us-east-1a", "us-east-1a"), protect=True)[0]
    assert violations("aurora-multi-az", instances("us-east-1a", "us-east-1b"), protect=True) == []


def test_cloudfront_needs_the_recommended_tls12_policies_of_cloudfront_15():
    for version, ok in (
        ("TLSv1.2_2018", False),
        ("TLSv1.2_2019", False),
        ("TLSv1.1_2016", False),
        ("TLSv1.2_2021", True),
        ("TLSv1.2_2025", True),
        ("TLSv1.3_2025", True),
    ):
        dist = res(DIST, "cdn", {"viewerCertificate": {**GOOD_CERT, "minimumProtocolVersion": version}}, layer="edge")
        assert (violations("cloudfront-tls12", fragment(dist)) == []) is ok, version


def test_attached_aws_managed_policies_that_grant_wildcards_are_flagged():
    attach = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    admin = res(attach, "a", {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    s3_full = res("aws:iam/role:Role", "r", {"managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]})
    execution = res(
        attach, "e", {"role": "r", "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}
    )
    own = res(attach, "o", {"role": "r", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess"})  # a customer policy
    assert "AdministratorAccess" in violations("iam-no-wildcard-actions", fragment(admin))[0]
    assert "AmazonS3FullAccess" in violations("iam-no-wildcard-actions", fragment(s3_full))[0]
    assert violations("iam-no-wildcard-actions", fragment(execution)) == []
    assert "AmazonECSTaskExecutionRolePolicy" in violations("iam-no-wildcard-resource", fragment(execution))[0]
    assert violations("iam-no-wildcard-actions", fragment(own)) == violations("iam-no-wildcard-resource", fragment(own)) == []


# Branches of rules beyond the one failing case each rule has in CASES: (rule, resource, message part, protect).
MORE_FAILING_CASES = [
    (
        "aurora-encrypted-cmk",
        res(CLUSTER, "db", {"storageEncrypted": False, "kmsKeyId": KEY_ARN}),
        "storageEncrypted is not true",
        False,
    ),
    (
        "aurora-encrypted-cmk",
        res(CLUSTER, "db", {"storageEncrypted": True, "kmsKeyId": "alias/aws/rds"}),
        "AWS-managed key",
        False,
    ),
    ("dynamodb-encrypted-cmk", res(TABLE, "t", {"serverSideEncryption": {"enabled": True}}), "customer-managed", False),
    ("aurora-final-snapshot", res(CLUSTER, "db", {"skipFinalSnapshot": False}), "no finalSnapshotIdentifier", True),
    (
        "ephemeral-destroyable",
        res(CLUSTER, "db", {"deletionProtection": True, "skipFinalSnapshot": True}),
        "deletionProtection is true",
        False,
    ),
    ("ephemeral-destroyable", res(CLUSTER, "db", {"skipFinalSnapshot": False}), "no finalSnapshotIdentifier", False),
    ("ephemeral-destroyable", res(TABLE, "t", {"deletionProtectionEnabled": True}), "deletionProtectionEnabled is true", False),
    (
        "ephemeral-destroyable",
        res("aws:s3/bucket:Bucket", "b", {"forceDestroy": False}, layer="edge"),
        "forceDestroy is not true",
        False,
    ),
]


@pytest.mark.parametrize("rule_id,resource,message,protect", MORE_FAILING_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_each_branch_of_a_rule_reports_its_own_problem(rule_id, resource, message, protect):
    found = violations(rule_id, fragment(resource), protect=protect)
    assert any(message in m for m in found), found


@pytest.mark.parametrize(
    "condition",
    [
        {"StringNotEquals": {"kms:CallerAccount": ACCOUNT}},  # every *other* account
        {"StringEquals": {"kms:CallerAccount": "*"}},
        {"StringLike": {"kms:CallerAccount": "1111*"}},
        {"Null": {"kms:CallerAccount": "false"}},
        {"StringEqualsIfExists": {"kms:CallerAccount": ACCOUNT}},  # passes when the key is absent
        {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},  # an organization is not this account
    ],
    ids=["not-equals", "wildcard", "like", "null", "if-exists", "org"],
)
def test_a_public_key_statement_must_pin_the_account_with_an_exact_match(condition):
    key = res(
        KMS,
        "k",
        {
            "enableKeyRotation": True,
            "policy": policy_json(
                {
                    "Sid": "S",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": condition,
                }
            ),
        },
    )
    assert violations("kms-key-not-public", fragment(key))


def test_a_resource_arn_naming_every_resource_of_a_type_is_resource_star():
    def grant(*arns: str) -> dict:
        return fragment(
            res(
                ROLE_POLICY,
                "p",
                {
                    "policy": policy_json(
                        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "s3:GetObject"], "Resource": list(arns)}
                    )
                },
            )
        )

    (message,) = violations("iam-no-wildcard-resource", grant(f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/*"))
    assert "every resource of the type" in message
    assert violations("iam-no-wildcard-resource", grant("arn:aws:kms:*:*:key/*", "arn:aws:s3:::*"))
    # One table's indexes, one bucket's objects, one log group's streams: named resources.
    assert (
        violations(
            "iam-no-wildcard-resource",
            grant(
                f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/index/*",
                "arn:aws:s3:::bucket/*",
                f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/mlapi/demo/api:log-stream:*",
            ),
        )
        == []
    )


def test_describe_log_groups_may_name_every_log_group_of_one_account_and_region_only():
    """IAM checks logs:DescribeLogGroups against an account-level ARN, so log-group:* scoped to the
    account and region is accepted for it - and for nothing else, and never as '*' or across regions."""

    def grant(actions: list, resource: str) -> dict:
        return fragment(
            res(
                ROLE_POLICY,
                "p",
                {"policy": policy_json({"Sid": "S", "Effect": "Allow", "Action": actions, "Resource": [resource]})},
            )
        )

    scoped = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"
    assert violations("iam-no-wildcard-resource", grant(["logs:DescribeLogGroups"], scoped)) == []
    assert (
        "logs:PutLogEvents"
        in violations("iam-no-wildcard-resource", grant(["logs:DescribeLogGroups", "logs:PutLogEvents"], scoped))[0]
    )
    assert violations("iam-no-wildcard-resource", grant(["logs:DescribeLogGroups"], "*"))
    assert violations("iam-no-wildcard-resource", grant(["logs:DescribeLogGroups"], "arn:aws:logs:*:*:log-group:*"))


# -- environment-aware rules ----------------------------------------------------------------------
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
            CLUSTER,
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


LIFTED_WHILE_DECOMMISSIONING = {"aurora-deletion-protection", "dynamodb-deletion-protection", "alb-deletion-protection"}


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


def test_default_cloudfront_certificate_is_accepted_only_for_ephemeral_environments():
    default_cert = fragment(res(DIST, "cdn", {"viewerCertificate": {"cloudfrontDefaultCertificate": True}}, layer="edge"))
    for rule_id in ("cloudfront-custom-certificate", "cloudfront-tls12"):
        (ephemeral,) = results_of(rule_id, default_cert, protect=False)
        assert ephemeral.status is Status.WAIVED and "throwaway" in ephemeral.reason
        (protected,) = results_of(rule_id, default_cert, protect=True)
        assert protected.status is Status.VIOLATION


def test_decommission_is_read_from_the_plans_mode_then_the_data_layers_output_then_the_environment_file():
    document = fragment(res(KMS, "k"), outputs={"data": {"protected": True, "decommissioning": True}})
    assert resolve_decommission(document, ENV) == (True, "from the data layer's `decommissioning` output")
    for layer in document["layers"]:
        layer["decommissioning"] = False
    assert resolve_decommission(document, ENV) == (False, "the plan's layers were all rendered with decommission=false")
    env_file = ROOT / "environments" / "decomres.yaml"
    env_file.write_text("protect: true\ndecommission: true\n")
    try:
        assert resolve_decommission(fragment(res(KMS, "k")), "decomres") == (
            True,
            "from the environment's `decommission` setting (mlapi-network)",
        )
    finally:
        env_file.unlink()
    assert resolve_decommission(fragment(res(KMS, "k")), ENV)[0] is False


def test_protect_is_read_from_the_flag_the_plans_mode_then_the_data_layers_output():
    document = fragment(res(KMS, "k"), outputs={"data": {"protected": True}})
    assert resolve_protect(document, ENV) == (True, "from the data layer's `protected` output")
    assert resolve_protect(document, ENV, flag=False)[0] is False
    for layer in document["layers"]:
        layer["protected"] = False
    assert resolve_protect(document, ENV) == (False, "the plan's layers were all rendered with protect=false")


# -- literal region / account ----------------------------------------------------------------------
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
        return fragment(res(ROLE_POLICY, "p", {"policy": policy_json(statement)}, layer="network"), region=region)

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
            ACL,
            "acl",
            {"name": "mlapi-cdn-demo", "scope": "CLOUDFRONT"},
            layer="edge",
            provider=f"{pin['urn']}::id",
            state={"arn": acl_arn},
        )
        # A resource of the environment's own region quoting the pinned ACL's ARN.
        dist = res(DIST, "cdn", {"webAclId": acl_arn}, layer="edge")
        return fragment(pin, acl, dist, region=region)

    twin = {**rendering("eu-west-1", "444455556666"), "account": "444455556666"}
    assert violations("no-literal-region-or-account", rendering("us-east-1", ACCOUNT), twin=twin) == []


def test_a_literal_us_east_1_stands_out_even_beside_a_provider_pinned_there():
    def rendering(region: str, account: str) -> dict:
        pin = res("pulumi:providers:aws", "cloudfront", {"region": "us-east-1"}, layer="edge")
        log_group = f"arn:aws:logs:us-east-1:{account}:log-group:aws-waf-logs-mlapi-demo"  # spelled out, not an output
        policy = res(
            ROLE_POLICY,
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


# -- the same rules through the policy pack's adapters --------------------------------------------
class Rejected(Exception):
    """Raised by our fake args in place of pulumi_policy's not-applicable signal."""


def _config(protect: bool, decommission: bool = False):
    """Stack config as the engine hands it to the pack: region and every layer's `protect` (and `decommission`)."""
    values = {
        "aws:region": "us-east-1",
        **{f"mlapi-{layer}:protect": "true" if protect else "false" for layer in ("network", "data", "compute", "edge")},
    }
    if decommission:
        values.update({f"mlapi-{layer}:decommission": "true" for layer in ("network", "data", "compute", "edge")})
    return values.get


def engine_props(value: dict) -> Any:
    """Properties as pulumi_policy hands them to a policy: through the engine's protobuf Struct
    (every number becomes a float), the SDK's deserializer and its unknown-checking proxy."""
    from google.protobuf import json_format, struct_pb2
    from pulumi_policy.deserialize import deserialize_properties

    message = struct_pb2.Struct()
    message.update(copy.deepcopy(value))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(message)))


def _policy(rule_id: str, protect: bool, decommission: bool = False):
    return next(p for p in build_policies(lookup=_config(protect, decommission)) if p.name == rule_id)


def _run_pack(rule_id: str, items: list[dict], protect: bool, decommission: bool = False) -> tuple[list[str], str | None]:
    """Violations and the not-applicable reason the pack reports for ``items``."""
    policy = _policy(rule_id, protect, decommission)
    found: list[str] = []
    report = lambda message, urn=None: found.append(message)  # noqa: E731
    reason: str | None = None
    try:
        if by_id(rule_id).scope is Scope.RESOURCE:
            for item in items:
                args = ResourceValidationArgs(
                    item["type"],
                    engine_props(item["inputs"]),
                    item["urn"],
                    item["name"],
                    PolicyResourceOptions(False, [], None, [], None, [], None),
                    None,
                    {},
                )
                policy.validate(args, report)
        else:
            resources = [
                PolicyResource(
                    item["type"],
                    engine_props({**item["inputs"], **item.get("state", {})}),
                    item["urn"],
                    item["name"],
                    PolicyResourceOptions(False, [], None, [], None, [], None),
                    None,
                    None,
                    [],
                    {},
                )
                for item in items
            ]
            policy.validate(StackValidationArgs(resources, {}), report)
    except Exception as exc:  # pulumi_policy's not-applicable signal
        if type(exc).__name__ != "_NotApplicableError":
            raise
        reason = exc.reason
    return found, reason


# What one stack cannot see: the pack reports "not applicable" with the reason instead.
PACK_NOT_JUDGED = {"alb-behind-waf", "no-literal-region-or-account"}


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
    policy = _policy("names-carry-suffix", False)
    found: list[str] = []
    provider = PolicyProviderResource("pulumi:providers:aws", {"region": "eu-west-1"}, "urn:provider", "aws")
    args = ResourceValidationArgs(
        SG,
        unknown_checking_proxy({"name": "mlapi-alb-sg-demo"}),
        f"urn:pulumi:{ENV}::mlapi-network::{SG}::sg",
        "sg",
        PolicyResourceOptions(False, [], None, [], None, [], None),
        provider,
        {},
    )
    policy.validate(args, lambda m, u=None: found.append(m))
    assert found == []


def test_a_value_unknown_during_preview_is_left_to_the_sdk_not_guessed():
    policy = _policy("kms-key-rotation", False)
    args = ResourceValidationArgs(
        KMS,
        unknown_checking_proxy({"enableKeyRotation": UNKNOWN_BOOLEAN_VALUE}),
        f"urn:pulumi:{ENV}::mlapi-data::{KMS}::k",
        "k",
        PolicyResourceOptions(False, [], None, [], None, [], None),
        None,
        {},
    )
    with pytest.raises(UnknownValueError):
        policy.validate(args, lambda m, u=None: None)


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
            analyzer_pb2.AnalyzeRequest(type=TABLE, properties=table, urn=f"urn:pulumi:demo::mlapi-data::{TABLE}::t", name="t"),
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


# -- the offline runner over real plans ------------------------------------------------------------
def run_invoke(*args: str) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ENVIRONMENT_SUFFIX", "MLAPI_PROTECT", "AWS_REGION", "AWS_DEFAULT_REGION")
    }
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True, env=environ, timeout=600
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


def test_the_default_environment_passes_invoke_check():
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


def test_invoke_check_reports_a_violation_in_a_plan_file_by_layer_and_exits_1(tmp_path, default_plan):
    document = json.loads(json.dumps(default_plan.document()))
    network = next(lyr for lyr in document["layers"] if lyr["layer"] == "network")
    key = next(r for r in network["resources"] if r["type"] == KMS)
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


def test_invoke_check_refuses_a_plan_file_of_another_environment(tmp_path, default_plan):
    path = tmp_path / "demo.plan.json"
    path.write_text(json.dumps(default_plan.document()))
    result = run_invoke("check", "--env", "prod", "--plan", str(path))
    assert result.returncode == 2 and "--env" in result.stderr and "'demo'" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_lists_every_rule_with_its_controls():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Compliance checks") :]
    section = section[: section.index("\n## ", 1)]
    for r in REGISTRY:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{r.id}` |")), None)
        assert row is not None, f"README's Compliance checks table misses {r.id}"
        assert all(control in row for control in r.controls) and r.severity.value in row, row


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
    policies = build_policies(lookup=_config(False))
    opts = PolicyResourceOptions(False, [], None, [], None, [], None)
    found: set[tuple[str, str]] = set()
    for lp in default_plan.layers:
        registrations = lp.rendered.registrations
        for policy in policies:

            def attempt(validate, urn=None, name=policy.name):
                try:
                    validate(lambda message, reported=None: found.add((name, reported or urn)))
                except Exception as exc:  # pulumi_policy's not-applicable signal
                    if type(exc).__name__ != "_NotApplicableError":
                        raise

            if by_id(policy.name).scope is Scope.RESOURCE:
                for reg in registrations:
                    args = ResourceValidationArgs(
                        reg.type, unknown_checking_proxy(copy.deepcopy(reg.inputs)), reg.urn, reg.name, opts, None, {}
                    )
                    attempt(lambda report, args=args, policy=policy: policy.validate(args, report), urn=reg.urn)
            else:
                resources = [
                    PolicyResource(
                        r.type,
                        unknown_checking_proxy({**copy.deepcopy(r.inputs), **copy.deepcopy(r.state)}),
                        r.urn,
                        r.name,
                        opts,
                        None,
                        None,
                        [],
                        {},
                    )
                    for r in registrations
                ]
                attempt(
                    lambda report, policy=policy, resources=resources: policy.validate(StackValidationArgs(resources, {}), report)
                )
    assert found <= offline, sorted(found - offline)
    assert sum(1 for lp in default_plan.layers for _ in lp.rendered.registrations) > 50


# -- every rule against the real default environment, broken one setting at a time ---------------
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


LB_TYPE, LOG = "aws:lb/loadBalancer:LoadBalancer", "aws:cloudwatch/logGroup:LogGroup"
SG_RULE_IN = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


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
    inputs = _find(document, SG_RULE_IN, "sg-service-in-alb")["inputs"]
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
# rule id -> (mutation of the default plan, judge as protected, text the finding must contain)
MUTATIONS: dict[str, tuple[Any, bool, str]] = {
    "kms-key-rotation": (
        lambda d: _find(d, KMS, "data-key-key")["inputs"].update(enableKeyRotation=False),
        False,
        "rotation is off",
    ),
    "kms-key-not-public": (
        lambda d: _edit_json(_find(d, KMS, "data-key-key"), "policy", _unguarded_service_statement),
        False,
        "'ServicesUseKeyForThisAccount' allows Principal '*' without a StringEquals condition naming the account",
    ),
    "aurora-encrypted-cmk": (lambda d: _find(d, CLUSTER, "aurora-cluster")["inputs"].pop("kmsKeyId"), False, "customer-managed"),
    "dynamodb-encrypted-cmk": (
        lambda d: _find(d, TABLE, "sessions-table")["inputs"].update(serverSideEncryption={"enabled": False}),
        False,
        "not enabled",
    ),
    "secret-encrypted-cmk": (
        lambda d: _find(d, CLUSTER, "aurora-cluster")["inputs"].update(masterUserSecretKmsKeyId="alias/aws/secretsmanager"),
        False,
        "AWS-managed key",
    ),
    "log-group-encrypted-cmk": (lambda d: _find(d, LOG, "logs-log-group")["inputs"].pop("kmsKeyId"), False, "customer-managed"),
    "log-group-retention": (lambda d: _find(d, LOG, "flow-logs-log-group")["inputs"].pop("retentionInDays"), False, "forever"),
    "database-not-public": (
        lambda d: _find(d, INSTANCE, "aurora-instance-1")["inputs"].update(publiclyAccessible=True),
        False,
        "publiclyAccessible",
    ),
    "database-in-private-subnets": (_public_db_subnets, False, "internet gateway"),
    "rds-managed-master-password": (
        lambda d: _find(d, CLUSTER, "aurora-cluster")["inputs"].update(manageMasterUserPassword=False, masterPassword="hunter2"),
        False,
        "masterPassword is set",
    ),
    "aurora-deletion-protection": (NOTHING, True, "deletionProtection is not true"),
    "aurora-final-snapshot": (NOTHING, True, "skipFinalSnapshot is true"),
    "aurora-multi-az": (NOTHING, True, "1 instance(s)"),
    "dynamodb-deletion-protection": (NOTHING, True, "deletionProtectionEnabled is not true"),
    "dynamodb-point-in-time-recovery": (
        lambda d: _find(d, TABLE, "sessions-table")["inputs"].update(pointInTimeRecovery={"enabled": False}),
        True,
        "recovery is off",
    ),
    "ephemeral-destroyable": (
        lambda d: _find(d, REPO, "registry-repository")["inputs"].update(forceDelete=False),
        False,
        "forceDelete is not true",
    ),
    "secret-rotation": (
        lambda d: _append(
            d,
            "data",
            res(
                SECRET,
                "app-secret",
                {"name": "mlapi-app-demo", "kmsKeyId": KEY_ARN},
                state={"arn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:mlapi-app-demo-AbCdEf"},
            ),
        ),
        False,
        "no SecretRotation",
    ),
    "subnet-no-auto-public-ip": (
        lambda d: _find(d, SUBNET, "main-public-0")["inputs"].update(mapPublicIpOnLaunch=True),
        False,
        "mapPublicIpOnLaunch is true",
    ),
    "sg-no-world-ingress": (_world_open_service_port, False, "port 8080 is open to 0.0.0.0/0"),
    "sg-rule-descriptions": (
        lambda d: _find(d, SG_RULE_IN, "sg-database-in-service")["inputs"].pop("description"),
        False,
        "no description",
    ),
    "default-sg-closed": (
        lambda d: _find(d, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "main-default-sg")["inputs"].update(
            ingress=[{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]
        ),
        False,
        "still has ingress",
    ),
    "vpc-flow-logs": (
        lambda d: _find(d, "aws:ec2/flowLog:FlowLog", "flow-logs-flow-log")["inputs"].update(trafficType="ACCEPT"),
        False,
        "not ALL or REJECT",
    ),
    "task-no-public-ip": (
        lambda d: _find(d, "aws:ecs/service:Service", "api-service")["inputs"]["networkConfiguration"].update(
            assignPublicIp=True
        ),
        False,
        "assignPublicIp is true",
    ),
    "alb-drop-invalid-headers": (
        lambda d: _find(d, LB_TYPE, "lb-alb")["inputs"].update(dropInvalidHeaderFields=False),
        False,
        "dropInvalidHeaderFields",
    ),
    "alb-https-redirect": (lambda d: _https_listener(d, "ELBSecurityPolicy-TLS13-1-2-2021-06"), False, "serves plain HTTP"),
    "alb-tls-policy": (lambda d: _https_listener(d, "ELBSecurityPolicy-2016-08"), False, "older than 1.2"),
    "alb-behind-waf": (lambda d: _remove(d, "aws:wafv2/webAclAssociation:WebAclAssociation"), False, "not behind a WAF"),
    "alb-deletion-protection": (NOTHING, True, "enableDeletionProtection is not true"),
    "cloudfront-https-viewers": (
        lambda d: _find(d, DIST, "edge-cdn")["inputs"]["orderedCacheBehaviors"][0].update(viewerProtocolPolicy="allow-all"),
        False,
        "allows plain HTTP",
    ),
    "cloudfront-custom-certificate": (
        lambda d: _find(d, DIST, "edge-cdn")["inputs"].update(
            viewerCertificate={"cloudfrontDefaultCertificate": True, "minimumProtocolVersion": "TLSv1"}
        ),
        True,
        "default *.cloudfront.net",
    ),
    "cloudfront-tls12": (
        lambda d: _find(d, DIST, "edge-cdn")["inputs"]["viewerCertificate"].update(minimumProtocolVersion="TLSv1.2_2019"),
        False,
        "TLSv1.2_2019",
    ),
    "cloudfront-waf": (lambda d: _find(d, DIST, "edge-cdn")["inputs"].pop("webAclId"), False, "not behind a WAF"),
    "cloudfront-origin-https": (NOTHING, True, "originProtocolPolicy=http-only"),  # the default plan's ALB has no certificate
    "waf-has-rules": (lambda d: _find(d, ACL, "alb-waf-acl")["inputs"].update(rules=[]), False, "no rules"),
    "waf-logging": (
        lambda d: _remove(d, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "alb-waf-logging"),
        False,
        "not recorded",
    ),
    "iam-no-wildcard-actions": (
        lambda d: _edit_json(
            _find(d, ROLE_POLICY, "roles-task-policy"),
            "policy",
            lambda doc: _statement("SessionTableItems")(doc).update(Action=["dynamodb:*"]),
        ),
        False,
        "allows dynamodb:*",
    ),
    "iam-no-wildcard-resource": (
        lambda d: _edit_json(
            _find(d, ROLE_POLICY, "roles-task-policy"),
            "policy",
            lambda doc: _statement("SessionTableItems")(doc).update(Resource="*"),
        ),
        False,
        "on Resource '*'",
    ),
    "ecs-distinct-task-roles": (
        lambda d: _find(d, TASKDEF, "task-definition")["inputs"].update(
            taskRoleArn=_find(d, TASKDEF, "task-definition")["inputs"]["executionRoleArn"]
        ),
        False,
        "same role",
    ),
    "ecs-container-insights": (
        lambda d: _find(d, "aws:ecs/cluster:Cluster", "ecs-cluster")["inputs"].update(
            settings=[{"name": "containerInsights", "value": "disabled"}]
        ),
        False,
        "not enabled",
    ),
    "ecs-container-logging": (
        lambda d: _edit_json(
            _find(d, TASKDEF, "task-definition"), "containerDefinitions", _container(lambda c: c.pop("logConfiguration"))
        ),
        False,
        "no logConfiguration",
    ),
    "ecs-no-secrets-in-environment": (
        lambda d: _edit_json(
            _find(d, TASKDEF, "task-definition"),
            "containerDefinitions",
            _container(lambda c: c["environment"].append({"name": "DB_PASSWORD", "value": "hunter2"})),
        ),
        False,
        "DB_PASSWORD looks like a credential",
    ),
    "ecs-readonly-root-filesystem": (
        lambda d: _edit_json(
            _find(d, TASKDEF, "task-definition"),
            "containerDefinitions",
            _container(lambda c: c.update(readonlyRootFilesystem=False)),
        ),
        False,
        "root filesystem",
    ),
    "ecs-not-privileged": (
        lambda d: _edit_json(
            _find(d, TASKDEF, "task-definition"), "containerDefinitions", _container(lambda c: c.update(privileged=True))
        ),
        False,
        "is privileged",
    ),
    "ecr-scan-on-push": (
        lambda d: _find(d, REPO, "registry-repository")["inputs"].update(imageScanningConfiguration={"scanOnPush": False}),
        False,
        "scanOnPush is not true",
    ),
    "ecr-immutable-tags": (
        lambda d: _find(d, REPO, "registry-repository")["inputs"].update(imageTagMutability="MUTABLE"),
        False,
        "MUTABLE",
    ),
    "ecr-lifecycle-policy": (lambda d: _remove(d, "aws:ecr/lifecyclePolicy:LifecyclePolicy"), False, "no lifecycle policy"),
    "names-carry-suffix": (
        lambda d: _find(d, SG, "sg-alb")["inputs"].update(name="mlapi-alb-sg"),
        False,
        "does not contain the environment suffix 'demo'",
    ),
}
# Relations one stack cannot see: there the pack answers "not applicable" and names `invoke check`.
PACK_CROSS_STACK = {"alb-behind-waf", "database-in-private-subnets", "no-literal-region-or-account"}


@pytest.fixture(scope="module")
def real_plan(default_plan):
    """The default environment's plan document and the mock runtime's outputs of each resource."""
    document = json.loads(json.dumps(default_plan.document()))
    states = {reg.urn: reg.state for lp in default_plan.layers for reg in lp.rendered.registrations}
    return document, states


def _offline(rule_id: str, document: dict, states: dict, protect: bool):
    view = view_from_document(document, states=states)
    env = Environment(suffix=ENV, region=document["region"], protect=protect, protect_source="test")
    return [r for r in run(view, env, rules=[by_id(rule_id)]).results if r.status is Status.VIOLATION]


def _pack_over_layers(rule_id: str, document: dict, states: dict, protect: bool) -> tuple[list[str], list[str]]:
    """Each layer as the pack sees it (one stack): violations and not-applicable reasons of one policy.
    Resource policies get the inputs, stack policies the outputs, both in the form the engine sends."""
    policy = _policy(rule_id, protect)
    opts = PolicyResourceOptions(False, [], None, [], None, [], None)
    found: list[str] = []
    reasons: list[str] = []

    def attempt(call) -> None:
        try:
            call(lambda message, urn=None: found.append(message))
        except Exception as exc:  # pulumi_policy's not-applicable signal
            if type(exc).__name__ != "_NotApplicableError":
                raise
            reasons.append(exc.reason)

    for layer in document["layers"]:
        items = [r for r in layer["resources"] if r["type"] != "pulumi:pulumi:Stack"]
        if by_id(rule_id).scope is Scope.RESOURCE:
            for item in items:
                args = ResourceValidationArgs(
                    item["type"], engine_props(item["inputs"]), item["urn"], item["name"], opts, None, {}
                )
                attempt(lambda report, args=args: policy.validate(args, report))
        else:
            resources = []
            for item in items:
                props = {**(item.get("state") or states.get(item["urn"], {})), **item["inputs"]}
                resources.append(
                    PolicyResource(item["type"], engine_props(props), item["urn"], item["name"], opts, None, None, [], {})
                )
            attempt(lambda report, resources=resources: policy.validate(StackValidationArgs(resources, {}), report))
    return found, reasons


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


def test_a_literal_region_written_into_the_real_plan_is_found():
    """The literal rule on the real environment: the same ARN spelt out in both renderings."""
    from shared.compliance.offline import load

    view, environment, notes = load(ENV, region="us-east-1")
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


def test_stack_rules_in_the_pack_match_by_property_dependencies_while_ids_are_unknown():
    """During a preview the ids of resources being created are unknown; the engine still says which
    resources a property comes from, and the stack rules judge by that instead of giving up."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    opts = PolicyResourceOptions(False, [], None, [], None, [], None)

    def vpc(name: str) -> PolicyResource:
        return PolicyResource(
            VPC,
            engine_props({"cidrBlock": "10.0.0.0/16", "id": UNKNOWN_STRING_VALUE, "arn": UNKNOWN_STRING_VALUE}),
            f"urn:pulumi:{ENV}::mlapi-network::{VPC}::{name}",
            name,
            opts,
            None,
            None,
            [],
            {},
        )

    main, other = vpc("main"), vpc("other")

    def flow_log(of: PolicyResource) -> PolicyResource:
        return PolicyResource(
            "aws:ec2/flowLog:FlowLog",
            engine_props({"vpcId": UNKNOWN_STRING_VALUE, "trafficType": "ALL", "id": UNKNOWN_STRING_VALUE}),
            f"urn:pulumi:{ENV}::mlapi-network::aws:ec2/flowLog:FlowLog::fl",
            "fl",
            opts,
            None,
            None,
            [],
            {"vpcId": [of]},
        )

    policy = _policy("vpc-flow-logs", False)
    found: list[str] = []
    policy.validate(StackValidationArgs([main, flow_log(main)], {}), lambda m, u=None: found.append(m))
    assert found == []
    policy.validate(StackValidationArgs([main, other, flow_log(other)], {}), lambda m, u=None: found.append(m))
    assert len(found) == 1 and "no flow log" in found[0]


def test_a_protected_environment_needs_an_https_origin_and_then_passes(tmp_path):
    """Judged as protected, the default environment fails only because CloudFront would reach its
    certificate-less ALB over HTTP; with an ALB domain (an HTTPS origin) it passes."""
    from shared import manifest
    from shared.compliance.offline import check_environment
    from shared.plan.document import build_plan

    report = check_environment(ENV, region="us-east-1", protect=True)
    assert report.env.protect and not report.passed
    assert {r.rule.id for r in report.mandatory_violations} == {"cloudfront-origin-https"}, report.format()

    overrides = {layer.name: {"protect": True} for layer in manifest.LAYERS}
    overrides["compute"].update(albDomainName=f"origin.{ENV}.mycompany.io", hostedZoneId="Z0123456789ABCDEFGHIJ")
    plan_file = tmp_path / "protected.plan.json"
    build_plan(ENV, "us-east-1", overrides=overrides).write(plan_file)
    report = check_environment(ENV, plan_file=plan_file)
    assert report.env.protect and report.passed, report.format()
    assert not report.violations_of("aurora-multi-az")
    waived = {r.rule.id for r in report.of_status(Status.WAIVED)}
    assert waived == {"ephemeral-destroyable"}, waived


def test_a_decommissioning_environment_passes_with_deletion_protection_waived_and_the_final_snapshot_kept(tmp_path):
    """The real environment rendered protected and decommissioning (what `up-all` deploys before
    `down-all`): it passes, the deletion-protection rules are waived with the reason, and it is
    judged destroyable. Dropping the final snapshot is still a violation."""
    from shared import manifest
    from shared.compliance.offline import check_environment
    from shared.plan.document import build_plan

    overrides = {layer.name: {"protect": True, "decommission": True} for layer in manifest.LAYERS}
    overrides["compute"].update(albDomainName=f"origin.{ENV}.mycompany.io", hostedZoneId="Z0123456789ABCDEFGHIJ")
    plan = build_plan(ENV, "us-east-1", overrides=overrides)
    plan_file = tmp_path / "decommissioning.plan.json"
    plan.write(plan_file)
    report = check_environment(ENV, plan_file=plan_file)
    assert report.env.protect and report.env.decommissioning and report.passed, report.format()
    assert report.env.decommission_source == "the plan's layers were all rendered with decommission=true"
    waived = {r.rule.id: r.reason for r in report.of_status(Status.WAIVED)}
    assert set(waived) == LIFTED_WHILE_DECOMMISSIONING, waived
    assert all(reason.startswith("decommissioning environment") for reason in waived.values())
    assert not report.violations_of("ephemeral-destroyable")  # judged (not waived), and nothing blocks the destroy
    out = " ".join(report.format().split())
    assert "decommission=true (the plan's layers were all rendered with decommission=true)" in out
    assert "WAIVED aurora-deletion-protection:" in out and "because: decommissioning environment" in out

    document = plan.document()
    data = next(lyr for lyr in document["layers"] if lyr["layer"] == "data")
    cluster_inputs = next(r for r in data["resources"] if r["type"] == CLUSTER)["inputs"]
    cluster_inputs.update(skipFinalSnapshot=True)
    cluster_inputs.pop("finalSnapshotIdentifier")
    compute = next(lyr for lyr in document["layers"] if lyr["layer"] == "compute")
    next(r for r in compute["resources"] if r["type"] == REPO)["inputs"].update(forceDelete=False)
    plan_file.write_text(json.dumps(document))
    report = check_environment(ENV, plan_file=plan_file)
    assert {r.rule.id for r in report.mandatory_violations} == {"aurora-final-snapshot", "ephemeral-destroyable"}, report.format()


def test_internet_mode_may_open_only_the_ports_the_load_balancer_listens_on():
    """Network opens `albListenerPorts` to the world; compute decides the listeners. Without a
    certificate the ALB listens on 80 only, so the default [80, 443] leaves 443 open for nothing:
    only the whole plan shows it. The network stack alone (the pack) accepts 80/443 (EC2.18)."""
    from conftest import plan_layers

    def judged(ports: list) -> tuple[list[str], list[str]]:
        plan = plan_layers("compute", env=ENV, config={"network": {"albIngressSource": "internet", "albListenerPorts": ports}})
        document = json.loads(json.dumps(plan.document()))
        states = {reg.urn: reg.state for lp in plan.layers for reg in lp.rendered.registrations}
        offline = [r.finding.message for r in _offline("sg-no-world-ingress", document, states, False)]
        return offline, _pack_over_layers("sg-no-world-ingress", document, states, False)[0]

    offline, pack = judged([80, 443])
    assert offline == ["port 443 is open to 0.0.0.0/0 on the load balancer's security group, whose listeners use [80]"]
    assert pack == []
    assert judged([80]) == ([], [])
