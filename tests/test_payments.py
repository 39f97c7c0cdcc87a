"""The payments layer, rendered through its real program under the mock runtime.

The network layer is rendered for real (it creates the payments security groups when the
environment has the payments layer); the data layer's StackReference gets a contract-complete
sample (tests/test_compute.py's). ``test_offline_plan_...`` renders network -> data -> payments
through the real programs, as ``invoke plan`` does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import layer_of, plan_layers, policy
from test_compute import ACCOUNT, REGION, _network_outputs, recording_options, sample_data

from mlapi_payments.settings import PaymentsSettings
from shared import contracts, manifest
from shared.config import ConfigReader
from shared.errors import ConfigError, PlatformError
from shared.plan.engine import ORGANIZATION, Rendered, render_program, run_main
from shared.references import stack_reference_name
from shared.service import timing
from shared.service.service import IGNORED_UNDER_CODE_DEPLOY
from shared.settings import EnvironmentSettings
from shared.stack_config import assemble

ENV = "pay"
ECR = "aws:ecr/repository:Repository"
TASKDEF = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
ALB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KEY = "aws:kms/key:Key"
GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
POLICY = "aws:appautoscaling/policy:Policy"

# The only "*" resources allowed, and why: none of these actions has a resource type in IAM.
STAR_EXCEPTIONS = {
    "ecr:GetAuthorizationToken",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
}


def render_payments(
    config: dict[str, Any] | None = None,
    *,
    network: dict[str, Any] | None = None,
    options: dict[str, dict[str, list[str]]] | None = None,
) -> Rendered:
    layer = manifest.by_name("payments")
    cfg = assemble(
        layer, ENV, overrides={"aws:region": REGION, "environmentSuffix": ENV, "pulumiOrg": ORGANIZATION, **(config or {})}
    )
    outputs = {
        stack_reference_name(ORGANIZATION, "network", ENV): {**_network_outputs(ENV, REGION), **(network or {})},
        stack_reference_name(ORGANIZATION, "data", ENV): sample_data(REGION),
    }
    with recording_options(options if options is not None else {}):
        return render_program(
            run_main(layer.directory),
            project=layer.project,
            stack=ENV,
            region=REGION,
            config=cfg.values,
            secret_keys=cfg.secret_keys,
            stack_outputs=outputs,
        )


def load_settings(**config: Any) -> PaymentsSettings:
    values = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in config.items()}
    reader = ConfigReader("mlapi-payments", values.get)
    env = EnvironmentSettings.load(
        "payments", reader, project="mlapi-payments", stack=ENV, aws_lookup={"region": REGION}.get, environ={}
    )
    return PaymentsSettings.load(reader, env=env)


OPTIONS: dict[str, dict[str, list[str]]] = {}


@pytest.fixture(scope="module")
def payments() -> Rendered:
    return render_payments(options=OPTIONS)


@pytest.fixture(scope="module")
def https() -> Rendered:
    return render_payments({"albDomainName": "pay.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"})


def network_out() -> dict[str, Any]:
    return _network_outputs(ENV, REGION)


def container(rendered: Rendered) -> dict[str, Any]:
    (definition,) = json.loads(rendered.one(TASKDEF).inputs["containerDefinitions"])
    return definition


def role_policies(rendered: Rendered) -> dict[str, dict[str, Any]]:
    roles = {r.id: r.inputs["name"] for r in rendered.of_type(ROLE)}
    return {roles[p.inputs["role"]]: policy(p.inputs["policy"]) for p in rendered.of_type(ROLE_POLICY)}


def statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


def by_logical_name(rendered: Rendered, type_token: str) -> dict[str, Any]:
    return {r.name: r for r in rendered.of_type(type_token)}


def payments_key_arn(rendered: Rendered) -> str:
    (key,) = [k for k in rendered.of_type(KEY) if k.name == "key-key"]
    return str(key.state["arn"])


# --- registry, cluster, logs ------------------------------------------------------------------


def test_ecr_repository_scans_is_immutable_encrypted_with_the_layer_key_and_keeps_tagged_images(payments):
    repo = payments.one(ECR).inputs
    assert repo["name"] == f"mlapi-payments-{ENV}"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": payments_key_arn(payments)}]
    (rule,) = json.loads(payments.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])["rules"]
    assert rule["selection"]["tagStatus"] == "untagged" and rule["action"] == {"type": "expire"}


def test_cluster_has_container_insights_two_fargate_tasks_then_spot_and_encrypted_exec(payments):
    cluster = payments.one("aws:ecs/cluster:Cluster").inputs
    assert cluster["name"] == f"mlapi-payments-cluster-{ENV}"
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    exec_config = cluster["configuration"]["executeCommandConfiguration"]
    assert exec_config["kmsKeyId"] == payments_key_arn(payments)
    strategies = payments.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders").inputs
    assert {(s["capacityProvider"], s.get("base", 0), s["weight"]) for s in strategies["defaultCapacityProviderStrategies"]} == {
        ("FARGATE", 2, 1),
        ("FARGATE_SPOT", 0, 4),
    }
    assert payments.one(SERVICE).inputs["enableExecuteCommand"] is True


def test_log_group_is_kms_encrypted_with_a_key_logs_may_use_only_for_it_and_created_after_the_key(payments):
    group = by_logical_name(payments, LOG_GROUP)["logs-log-group"]
    assert group.inputs["name"] == f"/mlapi/{ENV}/payments"
    assert group.inputs["retentionInDays"] == 30
    assert group.inputs["kmsKeyId"] == payments_key_arn(payments)
    (key,) = [k for k in payments.of_type(KEY) if k.name == "key-key"]
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 7
    logs_statement = statements(policy(key.inputs["policy"]))["CloudWatchLogsUseKey"]
    assert logs_statement["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    assert logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == [
        f"{arn}/mlapi/{ENV}/payments",
        f"{arn}aws-waf-logs-mlapi-payments-waf-{ENV}",
    ]
    # The key (and so its policy) exists before CloudWatch Logs is asked to use it.
    assert key.urn in OPTIONS[group.urn]["dependencies"]


def test_compliance_and_environment_tags_are_provider_default_tags():
    rendered = render_payments({"tags": json.dumps({"owner": "payments-team"})})
    (provider,) = rendered.of_type("pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags["compliance"] == "pci-dss" and tags["backup"] == "required"
    assert tags["owner"] == "payments-team" and tags["Layer"] == "payments"
    custom = render_payments({"complianceTags": json.dumps({"compliance": "pci-dss-4", "backup": "daily"})})
    (provider,) = custom.of_type("pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert (tags["compliance"], tags["backup"]) == ("pci-dss-4", "daily")


# --- task definition ---------------------------------------------------------------------------


def test_task_is_two_vcpu_four_gib_read_only_and_healthy_by_default(payments):
    task = payments.one(TASKDEF).inputs
    assert (task["cpu"], task["memory"], task["family"]) == ("2048", "4096", f"mlapi-payments-{ENV}")
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    c = container(payments)
    assert c["name"] == "payments" and c["readonlyRootFilesystem"] is True and c["privileged"] is False
    assert c["portMappings"][0]["containerPort"] == network_out()["paymentsServicePort"]
    # The default image runs the placeholder server as nobody: a fresh environment becomes healthy.
    assert c["command"][:2] == ["python3", "-c"] and c["user"] == "65534:65534"
    assert c["stopTimeout"] == timing.STOP_TIMEOUT_SECONDS
    assert c["logConfiguration"]["options"]["awslogs-group"] == f"/mlapi/{ENV}/payments"


def test_database_credentials_are_injected_from_the_rds_managed_secret_never_plain(payments):
    c = container(payments)
    master = sample_data(REGION)["masterSecretArn"]
    assert {s["name"]: s["valueFrom"] for s in c["secrets"]} == {
        "DB_USERNAME": f"{master}:username::",
        "DB_PASSWORD": f"{master}:password::",
    }
    environment = {e["name"]: e["value"] for e in c["environment"]}
    assert environment["DB_HOST"] == sample_data(REGION)["clusterEndpoint"] and environment["DB_PORT"] == "5432"
    assert not any("PASSWORD" in name for name in environment)
    assert payments.outputs["databaseSecretArn"] == master


def test_an_image_tag_runs_from_the_layer_repository():
    rendered = render_payments({"imageTag": "2025.01.1"})
    repo_url = rendered.one(ECR).state["repositoryUrl"]
    assert container(rendered)["image"] == f"{repo_url}:2025.01.1"
    assert "command" not in container(rendered)


# --- IAM ---------------------------------------------------------------------------------------


def test_execution_role_reads_exactly_the_database_secret_and_pulls_only_its_repository(payments):
    docs = role_policies(payments)
    execution = statements(docs[f"mlapi-payments-task-execution-{ENV}"])
    assert execution["ReadInjectedSecrets"]["Resource"] == [sample_data(REGION)["masterSecretArn"]]
    assert execution["DecryptInjectedSecrets"]["Resource"] == [sample_data(REGION)["kmsKeyArn"]]
    assert execution["DecryptInjectedSecrets"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    }
    assert execution["PullServiceImages"]["Resource"] == [payments.one(ECR).state["arn"]]
    task = statements(docs[f"mlapi-payments-task-{ENV}"])
    # Re-reading the (rotated) database credentials, and ECS Exec: nothing else.
    assert set(task) == {
        "RereadDatabaseCredentials",
        "DecryptDatabaseCredentials",
        "EcsExecChannels",
        "EcsExecSessionDecrypt",
        "EcsExecSessionLogs",
        "EcsExecFindLogGroup",
    }
    assert task["RereadDatabaseCredentials"]["Resource"] == [sample_data(REGION)["masterSecretArn"]]
    assert task["RereadDatabaseCredentials"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert task["EcsExecSessionDecrypt"]["Resource"] == [payments_key_arn(payments)]


def test_codedeploy_role_is_scoped_to_this_service_its_listeners_alarms_and_task_roles(payments):
    roles = {r.inputs["name"]: r.inputs for r in payments.of_type(ROLE)}
    trust = policy(roles[f"mlapi-payments-codedeploy-{ENV}"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "codedeploy.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    cd = statements(role_policies(payments)[f"mlapi-payments-codedeploy-{ENV}"])
    cluster, service = f"mlapi-payments-cluster-{ENV}", f"mlapi-payments-{ENV}"
    assert cd["ShiftService"]["Resource"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{service}"]
    assert cd["ManageTaskSets"]["Resource"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/{cluster}/{service}/*"]
    assert cd["TagNewTaskSets"]["Condition"] == {"StringEquals": {"ecs:CreateAction": "CreateTaskSet"}}
    listeners = by_logical_name(payments, LISTENER)
    production, test = listeners["lb-production"].state["arn"], listeners["lb-test"].state["arn"]
    assert cd["ShiftTraffic"]["Resource"] == [production, test]
    assert cd["ShiftTrafficRules"]["Resource"] == [
        arn.replace(":listener/", ":listener-rule/") + "/*" for arn in (production, test)
    ]
    role_arns = {r.inputs["name"]: r.state["arn"] for r in payments.of_type(ROLE)}
    assert cd["PassTaskRoles"]["Resource"] == [
        role_arns[f"mlapi-payments-task-execution-{ENV}"],
        role_arns[f"mlapi-payments-task-{ENV}"],
    ]
    assert cd["PassTaskRoles"]["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    alarm_arns = {a.state["arn"] for a in payments.of_type(ALARM)}
    assert set(cd["ReadRollbackAlarms"]["Resource"]) <= alarm_arns
    # No managed policy (AWSCodeDeployRoleForECS grants "*" on ECS, ELB, S3, Lambda, SNS, PassRole).
    assert not payments.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")


# What CodeDeploy calls during an ECS blue/green release without hooks or an S3 AppSpec (the
# managed AWSCodeDeployRoleForECS minus Lambda, SNS and S3), and the resource type IAM authorizes
# each against (Service Authorization Reference; "" = no resource type, only "*").
CODEDEPLOY_ECS_ACTIONS = {
    "ecs:DescribeServices": "service",
    "ecs:UpdateServicePrimaryTaskSet": "service",
    "ecs:CreateTaskSet": "task-set",
    "ecs:DeleteTaskSet": "task-set",
    "elasticloadbalancing:DescribeListeners": "",
    "elasticloadbalancing:DescribeRules": "",
    "elasticloadbalancing:DescribeTargetGroups": "",
    "elasticloadbalancing:ModifyListener": "listener",
    "elasticloadbalancing:ModifyRule": "listener-rule",
    "cloudwatch:DescribeAlarms": "alarm",
    "iam:PassRole": "role",
}


def resource_type(arn: str) -> str:
    """The IAM resource type an ARN names: service/..., task-set/..., listener/app/..., alarm:..."""
    if arn == "*":
        return ""
    resource = arn.split(":", 5)[5]
    return resource.split("/", 1)[0].split(":", 1)[0]


def test_codedeploy_role_grants_every_release_call_on_the_resource_type_iam_checks(payments):
    """A release is the first time these permissions are used: an action missing, or granted on an
    ARN of another type (CreateTaskSet on the service instead of a task set), is denied then."""
    granted: dict[str, set[str]] = {}
    for s in role_policies(payments)[f"mlapi-payments-codedeploy-{ENV}"]["Statement"]:
        for action in s["Action"]:
            granted.setdefault(action, set()).update(resource_type(arn) for arn in s["Resource"])
    for action, expected in CODEDEPLOY_ECS_ACTIONS.items():
        assert granted.get(action) == {expected}, (action, granted.get(action))


def test_no_policy_has_wildcard_actions_or_star_resources_beyond_the_documented_exceptions(payments):
    for doc in role_policies(payments).values():
        for s in doc["Statement"]:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert not any(a.endswith("*") for a in actions), s
            if "*" in s["Resource"]:
                assert set(actions) <= STAR_EXCEPTIONS, s


# --- blue/green ---------------------------------------------------------------------------------


def test_service_is_controlled_by_codedeploy_and_starts_in_the_blue_target_group(payments):
    service = payments.one(SERVICE)
    inputs = service.inputs
    assert inputs["deploymentController"] == {"type": "CODE_DEPLOY"}
    # The circuit breaker and forced deployments belong to the ECS controller only.
    assert "deploymentCircuitBreaker" not in inputs and "forceNewDeployment" not in inputs
    groups = by_logical_name(payments, TG)
    assert inputs["loadBalancers"] == [
        {"targetGroupArn": groups["lb-blue"].state["arn"], "containerName": "payments", "containerPort": 8080}
    ]
    assert inputs["desiredCount"] == 3
    # Pulumi must not undo a release: CodeDeploy changes these after creation.
    ignored = set(OPTIONS[service.urn]["ignoreChanges"])
    assert {"taskDefinition", "loadBalancers", "desiredCount"} <= ignored
    assert ignored == {"desiredCount", *IGNORED_UNDER_CODE_DEPLOY}


def test_production_and_test_listeners_forward_to_blue_and_green_and_are_left_to_codedeploy(payments):
    listeners = by_logical_name(payments, LISTENER)
    assert set(listeners) == {"lb-production", "lb-test"}
    groups = by_logical_name(payments, TG)
    production, test = listeners["lb-production"], listeners["lb-test"]
    assert (production.inputs["port"], production.inputs["protocol"]) == (80, "HTTP")
    assert (test.inputs["port"], test.inputs["protocol"]) == (8080, "HTTP")
    assert production.inputs["defaultActions"] == [{"type": "forward", "targetGroupArn": groups["lb-blue"].state["arn"]}]
    assert test.inputs["defaultActions"] == [{"type": "forward", "targetGroupArn": groups["lb-green"].state["arn"]}]
    for listener in (production, test):
        assert OPTIONS[listener.urn]["ignoreChanges"] == ["defaultActions"]


def test_both_target_groups_check_health_and_drain_longer_than_the_longest_request(payments):
    groups = by_logical_name(payments, TG)
    assert {g.inputs["name"] for g in groups.values()} == {f"mlapi-pay-b-{ENV}", f"mlapi-pay-g-{ENV}"}
    for group in groups.values():
        assert group.inputs["targetType"] == "ip" and group.inputs["port"] == 8080
        assert group.inputs["healthCheck"]["path"] == "/health"
        assert group.inputs["deregistrationDelay"] == timing.DEREGISTRATION_DELAY_SECONDS
        assert timing.LONGEST_REQUEST_SECONDS < group.inputs["deregistrationDelay"] < container(payments)["stopTimeout"]


def test_deployment_group_is_blue_green_with_traffic_control_rollback_and_a_blue_termination_wait(payments):
    group = payments.one(GROUP).inputs
    app = payments.one("aws:codedeploy/application:Application").inputs
    assert app["computePlatform"] == "ECS" and group["appName"] == app["name"]
    assert group["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert group["deploymentConfigName"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"
    assert group["ecsService"] == {"clusterName": f"mlapi-payments-cluster-{ENV}", "serviceName": f"mlapi-payments-{ENV}"}
    pair = group["loadBalancerInfo"]["targetGroupPairInfo"]
    listeners = by_logical_name(payments, LISTENER)
    assert pair["prodTrafficRoute"]["listenerArns"] == [listeners["lb-production"].state["arn"]]
    assert pair["testTrafficRoute"]["listenerArns"] == [listeners["lb-test"].state["arn"]]
    assert [tg["name"] for tg in pair["targetGroups"]] == [f"mlapi-pay-b-{ENV}", f"mlapi-pay-g-{ENV}"]
    assert group["autoRollbackConfiguration"] == {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}
    terminate = group["blueGreenDeploymentConfig"]["terminateBlueInstancesOnDeploymentSuccess"]
    assert terminate == {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5}
    assert group["alarmConfiguration"]["enabled"] is True
    assert set(group["alarmConfiguration"]["alarms"]) == {
        f"mlapi-payments-{key}-{ENV}"
        for key in (
            "unhealthy-hosts-blue",
            "unhealthy-hosts-green",
            "target-5xx-blue",
            "target-5xx-green",
            "alb-5xx",
        )
    }
    role = {r.name: r for r in payments.of_type(ROLE)}["deploy-role"]
    assert group["serviceRoleArn"] == role.state["arn"]


def test_release_settings_are_configurable():
    rendered = render_payments(
        {"deploymentConfig": "CodeDeployDefault.ECSLinear10PercentEvery1Minutes", "terminateBlueAfterMinutes": 60}
    )
    group = rendered.one(GROUP).inputs
    assert group["deploymentConfigName"] == "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    assert group["blueGreenDeploymentConfig"]["terminateBlueInstancesOnDeploymentSuccess"]["terminationWaitTimeInMinutes"] == 60


def test_with_a_domain_both_listeners_are_https_and_http_redirects(https):
    listeners = by_logical_name(https, LISTENER)
    assert (listeners["lb-production"].inputs["port"], listeners["lb-production"].inputs["protocol"]) == (443, "HTTPS")
    assert (listeners["lb-test"].inputs["port"], listeners["lb-test"].inputs["protocol"]) == (8443, "HTTPS")
    for key in ("lb-production", "lb-test"):
        assert listeners[key].inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        assert listeners[key].inputs["certificateArn"] == https.one("aws:acm/certificate:Certificate").state["arn"]
    assert listeners["lb-http"].inputs["defaultActions"][0]["redirect"]["port"] == "443"
    assert https.outputs["testListenerPort"] == 8443


# --- security groups, WAF ----------------------------------------------------------------------


def test_tasks_and_load_balancer_use_the_payments_security_groups_from_the_network_layer(payments):
    network = network_out()
    service = payments.one(SERVICE).inputs["networkConfiguration"]
    assert service["securityGroups"] == [network["paymentsServiceSecurityGroupId"]]
    assert service["subnets"] == network["privateSubnetIds"] and service["assignPublicIp"] is False
    alb = payments.one(ALB).inputs
    assert alb["securityGroups"] == [network["paymentsAlbSecurityGroupId"]]
    assert alb["subnets"] == network["publicSubnetIds"] and alb["internal"] is False
    # Not the ML API's groups: the two workloads reach each other only through their load balancers.
    assert network["paymentsServiceSecurityGroupId"] != network["serviceSecurityGroupId"]


def test_network_without_the_payments_layer_is_refused_with_what_to_do():
    with pytest.raises(PlatformError, match=r"exports no payments\w+: .*Add payments to `layers`"):
        render_payments(
            network={"paymentsAlbSecurityGroupId": "", "paymentsServiceSecurityGroupId": "", "paymentsServicePort": 0}
        )


def test_load_balancer_is_behind_a_regional_waf_with_a_rate_limit_and_encrypted_logs(payments):
    acl = payments.one("aws:wafv2/webAcl:WebAcl")
    assert acl.inputs["scope"] == "REGIONAL"
    rules = {r["name"]: r for r in acl.inputs["rules"]}
    assert list(rules) == ["ip-reputation", "common", "known-bad-inputs", "rate-limit-per-ip"]
    assert rules["rate-limit-per-ip"]["statement"]["rateBasedStatement"]["limit"] == 2000
    association = payments.one("aws:wafv2/webAclAssociation:WebAclAssociation").inputs
    assert association == {"resourceArn": payments.one(ALB).state["arn"], "webAclArn": acl.state["arn"]}
    waf_logs = by_logical_name(payments, LOG_GROUP)["waf-logs"].inputs
    assert waf_logs["name"].startswith("aws-waf-logs-") and waf_logs["kmsKeyId"] == payments_key_arn(payments)
    logging = payments.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration").inputs
    assert logging["resourceArn"] == acl.state["arn"]
    # Credentials are kept out of sampled requests too, not only out of the logs.
    (protection,) = acl.inputs["dataProtectionConfig"]["dataProtections"]
    assert protection["action"] == "SUBSTITUTION" and set(protection["field"]["fieldKeys"]) == {"authorization", "cookie"}


# --- scaling and alarms -------------------------------------------------------------------------


def test_autoscaling_keeps_three_to_ten_tasks_tracking_cpu_70_and_memory_80(payments):
    target = payments.one("aws:appautoscaling/target:Target").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (3, 10)
    assert target["resourceId"] == f"service/mlapi-payments-cluster-{ENV}/mlapi-payments-{ENV}"
    tracked = {
        p.inputs["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"]["predefinedMetricType"]: p.inputs[
            "targetTrackingScalingPolicyConfiguration"
        ]["targetValue"]
        for p in payments.of_type(POLICY)
    }
    assert tracked == {"ECSServiceAverageCPUUtilization": 70, "ECSServiceAverageMemoryUtilization": 80}


def test_scaling_targets_and_alarm_thresholds_follow_their_settings():
    rendered = render_payments(
        {
            "cpuTargetPercent": 50,
            "memoryTargetPercent": 60,
            "cpuAlarmPercent": 75,
            "minTasks": 4,
            "maxTasks": 12,
            "desiredCount": 4,
        }
    )
    targets = {
        p.inputs["name"]: p.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"] for p in rendered.of_type(POLICY)
    }
    assert targets == {f"mlapi-payments-cpu-{ENV}": 50, f"mlapi-payments-memory-{ENV}": 60}
    alarms = {a.inputs["metricName"]: a.inputs for a in rendered.of_type(ALARM)}
    assert alarms["CPUUtilization"]["threshold"] == 75 and alarms["RunningTaskCount"]["threshold"] == 4


def test_alarms_watch_cpu_memory_5xx_and_unhealthy_targets_of_both_target_groups(payments):
    alarms = {a.inputs["name"]: a.inputs for a in payments.of_type(ALARM)}
    assert set(alarms) == {
        f"mlapi-payments-{key}-{ENV}"
        for key in (
            "unhealthy-hosts-blue",
            "unhealthy-hosts-green",
            "target-5xx-blue",
            "target-5xx-green",
            "alb-5xx",
            "cpu-high",
            "memory-high",
            "tasks-below-minimum",
        )
    }
    suffixes = payments.outputs["targetGroupArnSuffixes"]
    assert alarms[f"mlapi-payments-unhealthy-hosts-green-{ENV}"]["dimensions"]["TargetGroup"] == suffixes[1]
    assert alarms[f"mlapi-payments-target-5xx-blue-{ENV}"]["dimensions"]["TargetGroup"] == suffixes[0]
    cpu = alarms[f"mlapi-payments-cpu-high-{ENV}"]
    assert (cpu["threshold"], cpu["comparisonOperator"], cpu["evaluationPeriods"]) == (90, "GreaterThanOrEqualToThreshold", 5)
    assert alarms[f"mlapi-payments-memory-high-{ENV}"]["threshold"] == 90
    below = alarms[f"mlapi-payments-tasks-below-minimum-{ENV}"]
    assert (below["threshold"], below["treatMissingData"]) == (3, "missing")
    # The idle target group has no traffic: its missing data is not a failure.
    assert alarms[f"mlapi-payments-target-5xx-green-{ENV}"]["treatMissingData"] == "notBreaching"


# --- outputs -----------------------------------------------------------------------------------


def test_exports_are_exactly_the_contract_and_point_at_what_was_built(payments):
    out = payments.outputs
    assert set(out) == set(contracts.CONTRACTS["payments"])
    groups = by_logical_name(payments, TG)
    listeners = by_logical_name(payments, LISTENER)
    alb = payments.one(ALB).state
    assert (out["albDnsName"], out["albArn"], out["albArnSuffix"]) == (alb["dnsName"], alb["arn"], alb["arnSuffix"])
    assert (out["blueTargetGroupArn"], out["greenTargetGroupArn"]) == (
        groups["lb-blue"].state["arn"],
        groups["lb-green"].state["arn"],
    )
    assert out["targetGroupArnSuffixes"] == [groups["lb-blue"].state["arnSuffix"], groups["lb-green"].state["arnSuffix"]]
    assert (out["productionListenerArn"], out["testListenerArn"]) == (
        listeners["lb-production"].state["arn"],
        listeners["lb-test"].state["arn"],
    )
    assert out["testListenerPort"] == 8080 and isinstance(out["testListenerPort"], int)
    assert (out["containerName"], out["containerPort"]) == ("payments", 8080)
    assert out["taskFamily"] == f"mlapi-payments-{ENV}" and out["taskDefinitionArn"] == payments.one(TASKDEF).state["arn"]
    assert out["logKmsKeyArn"] == payments_key_arn(payments)
    assert out["vpcId"] == network_out()["vpcId"]
    assert out["codedeployDeploymentGroupName"] == payments.one(GROUP).inputs["deploymentGroupName"]
    # What a release's AppSpec carries is what the service was declared with (it ignores later changes).
    service = payments.one(SERVICE).inputs
    network = service["networkConfiguration"]
    assert (out["serviceSubnetIds"], out["serviceSecurityGroupIds"]) == (network["subnets"], network["securityGroups"])
    assert out["platformVersion"] == service["platformVersion"]
    strategy = [
        {"capacityProvider": s["capacityProvider"], "base": s.get("base", 0), "weight": s["weight"]}
        for s in service["capacityProviderStrategies"]
    ]
    assert out["capacityProviderStrategy"] == strategy and {s["capacityProvider"] for s in strategy} == {
        "FARGATE",
        "FARGATE_SPOT",
    }


def test_offline_plan_renders_network_data_and_payments_through_stack_references():
    assert [layer.name for layer in manifest.LAYERS].index("payments") > [layer.name for layer in manifest.LAYERS].index(
        "compute"
    )
    plan = plan_layers("payments", env="pplan", region=REGION)
    assert [lp.layer.name for lp in plan.layers] == ["network", "data", "payments"]
    rendered = layer_of(plan, "payments")
    data, network = layer_of(plan, "data").outputs, layer_of(plan, "network").outputs
    assert sorted(rendered.stack_references) == ["organization/mlapi-data/pplan", "organization/mlapi-network/pplan"]
    secrets = {s["name"]: s["valueFrom"] for s in container(rendered)["secrets"]}
    assert secrets["DB_PASSWORD"] == f"{data['masterSecretArn']}:password::"
    assert rendered.one(SERVICE).inputs["networkConfiguration"]["securityGroups"] == [network["paymentsServiceSecurityGroupId"]]
    assert set(rendered.outputs) == set(contracts.CONTRACTS["payments"])


# --- bad input ---------------------------------------------------------------------------------


def test_settings_defaults():
    s = load_settings()
    assert (s.cpu, s.memory, s.desired_count, s.min_tasks, s.max_tasks) == (2048, 4096, 3, 3, 10)
    assert (s.strategy.fargate_base, s.strategy.fargate_weight, s.strategy.fargate_spot_weight) == (2, 1, 4)
    assert (s.cpu_target, s.memory_target, s.cpu_alarm, s.memory_alarm) == (70, 80, 90, 90)
    assert s.compliance_tags == {"compliance": "pci-dss", "backup": "required"}
    assert s.image.uses_placeholder_server and s.test_listener_port == 8080


@pytest.mark.parametrize(
    "config, setting, allowed",
    [
        ({"cpu": 3000}, "mlapi-payments:cpu", "256, 512, 1024"),
        ({"cpu": 2048, "memory": 2048}, "mlapi-payments:memory", "4096 to 16384 in steps of 1024"),
        ({"minTasks": 5, "maxTasks": 4}, "mlapi-payments:minTasks", "at most maxTasks (4)"),
        ({"desiredCount": 2}, "mlapi-payments:desiredCount", "from minTasks (3) to maxTasks (10)"),
        ({"cpuTargetPercent": 0}, "mlapi-payments:cpuTargetPercent", "from 1 to 100"),
        ({"memoryTargetPercent": 101}, "mlapi-payments:memoryTargetPercent", "from 1 to 100"),
        ({"cpuAlarmPercent": 150}, "mlapi-payments:cpuAlarmPercent", "from 1 to 100"),
        ({"cpuAlarmPercent": 70}, "mlapi-payments:cpuAlarmPercent", "above cpuTargetPercent (70)"),
        ({"memoryAlarmPercent": 80}, "mlapi-payments:memoryAlarmPercent", "above memoryTargetPercent (80)"),
        ({"deploymentConfig": "CodeDeployDefault.OneAtATime"}, "mlapi-payments:deploymentConfig", "ECSCanary10Percent5Minutes"),
        ({"terminateBlueAfterMinutes": 3000}, "mlapi-payments:terminateBlueAfterMinutes", "from 0 to 2880"),
        ({"complianceTags": {"Name": "x"}}, "mlapi-payments:complianceTags", "platform's own"),
        ({"complianceTags": {"aws:foo": "x"}}, "mlapi-payments:complianceTags", "not starting with aws:"),
        ({"wafRateLimit": 10}, "mlapi-payments:wafRateLimit", "from 100"),
        ({"containerImage": "nginx:latest"}, "mlapi-payments:containerImage", "pinned"),
        ({"albDomainName": "pay.example.com"}, "mlapi-payments:albDomainName", "hostedZoneId"),
    ],
)
def test_bad_settings_name_the_setting_the_value_and_what_is_allowed(config, setting, allowed):
    with pytest.raises(ConfigError) as raised:
        load_settings(**config)
    assert raised.value.setting == setting
    assert allowed in raised.value.allowed
    assert str(raised.value).startswith(f"Invalid setting {setting} = ")


def test_a_bad_setting_stops_the_program_before_any_resource():
    registered: dict[str, dict[str, list[str]]] = {}
    with pytest.raises(ConfigError, match=r"mlapi-payments:cpuTargetPercent = '0': a whole number from 1 to 100"):
        render_payments({"cpuTargetPercent": 0}, options=registered)
    assert registered and all("::pulumi:pulumi:Stack::" in urn for urn in registered)


def test_every_setting_the_layer_reads_is_documented_in_its_pulumi_yaml():
    import yaml

    documented = yaml.safe_load((manifest.by_name("payments").directory / "Pulumi.yaml").read_text())["config"]
    unset: dict[str, str] = {}
    reader = ConfigReader("mlapi-payments", unset.get)
    env = EnvironmentSettings.load(
        "payments", reader, project="mlapi-payments", stack=ENV, aws_lookup={"region": REGION}.get, environ={}
    )
    PaymentsSettings.load(reader, env=env)
    assert set(reader.read) <= set(documented)
    for key in reader.read:
        assert documented[key].get("description"), key
        assert "default" in documented[key], key
