"""Compute and payments layers: the ECS service, its targets, scaling, alarms, logs and image
repository; payments also its CodeDeploy group and test listener."""

from __future__ import annotations

from typing import Any

from . import http
from .core import Context, Failed, check
from .network import last_event

SERVICE_LAYERS = ("compute", "payments")
MIN_AZS = 2


def _service(ctx: Context) -> dict[str, Any]:
    found = ctx.client("ecs").describe_services(cluster=ctx.out("clusterName"), services=[ctx.out("serviceName")])
    active = [s for s in found.get("services", []) if s.get("status") == "ACTIVE"]
    if not active:
        raise Failed(f"service {ctx.out('serviceName')} is not active in cluster {ctx.out('clusterName')}")
    return dict(active[0])


def _resource_id(ctx: Context) -> str:
    return f"service/{ctx.out('clusterName')}/{ctx.out('serviceName')}"


def _scalable_target(ctx: Context) -> dict[str, Any] | None:
    targets = ctx.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[_resource_id(ctx)], ScalableDimension="ecs:service:DesiredCount"
    )["ScalableTargets"]
    return dict(targets[0]) if targets else None


def _tasks(ctx: Context) -> list[dict[str, Any]]:
    ecs = ctx.client("ecs")
    arns = ecs.list_tasks(cluster=ctx.out("clusterName"), serviceName=ctx.out("serviceName"), desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    return list(ecs.describe_tasks(cluster=ctx.out("clusterName"), tasks=arns[:100])["tasks"])


@check(SERVICE_LAYERS, "tasks-running", needs=("clusterName", "serviceName"), settles=True)
def tasks_running(ctx: Context) -> str:
    service = _service(ctx)
    running, desired = service["runningCount"], service["desiredCount"]
    target = _scalable_target(ctx)
    minimum = int(target["MinCapacity"]) if target else 1
    if running != desired:
        raise Failed(f"{running} running of {desired} desired")
    if running < minimum:
        raise Failed(f"{running} running, below the scaling minimum of {minimum}")
    return f"{running} running = {desired} desired >= minimum {minimum}"


@check(SERVICE_LAYERS, "tasks-in-two-azs", needs=("clusterName", "serviceName"), settles=True)
def tasks_spread(ctx: Context) -> str:
    tasks = _tasks(ctx)
    zones = sorted({zone for zone in (_zone(ctx, t) for t in tasks) if zone})
    if len(zones) < MIN_AZS:
        raise Failed(f"{len(tasks)} running task(s) in {len(zones)} AZ(s) {zones}: one AZ outage would stop the service")
    return f"{len(tasks)} tasks in {', '.join(zones)}"


def _zone(ctx: Context, task: dict[str, Any]) -> str | None:
    if task.get("availabilityZone"):
        return str(task["availabilityZone"])
    # Without the field (older API answers), the task's ENI subnet says where it runs.
    for attachment in task.get("attachments", []):
        subnet = {d["name"]: d["value"] for d in attachment.get("details", [])}.get("subnetId")
        if subnet:
            return str(ctx.client("ec2").describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailabilityZone"])
    return None


@check(SERVICE_LAYERS, "fargate-spot-in-use", needs=("clusterName", "serviceName"))
def fargate_spot(ctx: Context) -> str:
    strategy = _service(ctx).get("capacityProviderStrategy") or []
    source = "service"
    if not strategy:
        cluster = ctx.client("ecs").describe_clusters(clusters=[ctx.out("clusterName")])["clusters"][0]
        strategy, source = cluster.get("defaultCapacityProviderStrategy") or [], "cluster default"
    weights = {s["capacityProvider"]: int(s.get("weight", 0)) for s in strategy}
    if weights.get("FARGATE_SPOT", 0) <= 0:
        raise Failed(f"{source} capacity provider strategy {weights or 'none'} gives FARGATE_SPOT no weight")
    on_spot = sum(1 for t in _tasks(ctx) if t.get("capacityProviderName") == "FARGATE_SPOT")
    return f"{source} strategy {weights}; {on_spot} running task(s) on FARGATE_SPOT"


def _target_groups(ctx: Context) -> list[str]:
    if ctx.layer == "payments":
        return [ctx.out("blueTargetGroupArn"), ctx.out("greenTargetGroupArn")]
    return [ctx.out("targetGroupArn")]


@check("compute", "targets-healthy", needs=("targetGroupArn",), settles=True)
@check("payments", "targets-healthy", needs=("blueTargetGroupArn", "greenTargetGroupArn"), settles=True)
def targets_healthy(ctx: Context) -> str:
    elb = ctx.client("elbv2")
    states: dict[str, str] = {}
    for arn in _target_groups(ctx):
        for health in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
            states[f"{health['Target']['Id']}:{health['Target'].get('Port', '')}"] = health["TargetHealth"]["State"]
    if not states:
        raise Failed("no registered targets")
    bad = sorted(f"{target} {state}" for target, state in states.items() if state != "healthy")
    if bad:
        raise Failed(f"{len(bad)} of {len(states)} targets not healthy: {', '.join(bad)}")
    return f"{len(states)} targets healthy"


@check(SERVICE_LAYERS, "autoscaling-registered", needs=("clusterName", "serviceName"))
def autoscaling(ctx: Context) -> str:
    target = _scalable_target(ctx)
    if target is None:
        raise Failed(f"no scalable target for {_resource_id(ctx)}")
    policies = ctx.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="ecs", ResourceId=_resource_id(ctx)
    )["ScalingPolicies"]
    if not policies:
        raise Failed(f"scalable target {target['MinCapacity']}-{target['MaxCapacity']} has no scaling policy")
    names = ", ".join(sorted(p["PolicyName"] for p in policies))
    return f"{target['MinCapacity']}-{target['MaxCapacity']} tasks; policies {names}"


@check("compute", "alarms-exist", needs=("clusterName", "serviceName", "targetGroupArn"))
@check("payments", "alarms-exist", needs=("clusterName", "serviceName", "blueTargetGroupArn", "greenTargetGroupArn"))
def alarms_exist(ctx: Context) -> str:
    # An alarm belongs to the layer when a dimension names its service, cluster, load balancer or target groups.
    mine = {ctx.out("serviceName"), ctx.out("clusterName")}
    if ctx.has("albArnSuffix"):
        mine.add(ctx.out("albArnSuffix"))
    mine.update(arn.split(":", 5)[-1] for arn in _target_groups(ctx))
    if ctx.has("targetGroupArnSuffixes"):
        mine.update(ctx.out("targetGroupArnSuffixes"))
    pages = ctx.client("cloudwatch").get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"])
    names = sorted(
        alarm["AlarmName"]
        for page in pages
        for alarm in page["MetricAlarms"]
        if any(d["Value"] in mine for d in alarm.get("Dimensions", []))
    )
    if not names:
        raise Failed(f"no CloudWatch alarm watches {', '.join(sorted(mine))}")
    return f"{len(names)} alarms: {', '.join(names)}"


def _log_key(ctx: Context) -> str:
    return str(ctx.out("logKmsKeyArn") if ctx.layer == "payments" else ctx.out("data.kmsKeyArn"))


@check("compute", "logs-retention-and-key", needs=("logGroupName", "data.kmsKeyArn"))
@check("payments", "logs-retention-and-key", needs=("logGroupName", "logKmsKeyArn"))
def logs_configured(ctx: Context) -> str:
    name = ctx.out("logGroupName")
    groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    group = next((g for g in groups if g["logGroupName"] == name), None)
    if group is None:
        raise Failed(f"log group {name} does not exist")
    if not group.get("retentionInDays"):
        raise Failed(f"{name} keeps events forever (no retention)")
    if group.get("kmsKeyId") != _log_key(ctx):
        raise Failed(f"{name} is encrypted with {group.get('kmsKeyId') or 'no customer key'}, not {_log_key(ctx)}")
    return f"{name}: {group['retentionInDays']} days, key {group['kmsKeyId']}"


@check(SERVICE_LAYERS, "logs-receive-events", needs=("logGroupName",), settles=True)
def logs_receive(ctx: Context) -> str:
    stream = last_event(ctx, ctx.out("logGroupName"))
    if stream is None:
        raise Failed(
            f"{ctx.out('logGroupName')} received no log event in the last hour: the containers log nowhere or are not running"
        )
    return f"an event within the hour in stream {stream}"


@check(SERVICE_LAYERS, "ecr-scan-on-push", needs=("ecrRepositoryUrl",))
def ecr_scan(ctx: Context) -> str:
    name = str(ctx.out("ecrRepositoryUrl")).split("/", 1)[-1]
    repo = ctx.client("ecr").describe_repositories(repositoryNames=[name])["repositories"][0]
    if not repo.get("imageScanningConfiguration", {}).get("scanOnPush"):
        raise Failed(f"{name} does not scan images on push")
    return f"{name} scans on push"


@check("payments", "codedeploy-group-exists", needs=("codedeployApplicationName", "codedeployDeploymentGroupName"))
def codedeploy_group(ctx: Context) -> str:
    app, name = ctx.out("codedeployApplicationName"), ctx.out("codedeployDeploymentGroupName")
    codedeploy = ctx.client("codedeploy")
    try:
        group = codedeploy.get_deployment_group(applicationName=app, deploymentGroupName=name)["deploymentGroupInfo"]
    except (codedeploy.exceptions.ApplicationDoesNotExistException, codedeploy.exceptions.DeploymentGroupDoesNotExistException):
        raise Failed(f"{app}/{name} does not exist") from None
    style = group.get("deploymentStyle", {}).get("deploymentType")
    services = [s.get("serviceName") for s in group.get("ecsServices", [])]
    if style != "BLUE_GREEN" or ctx.out("serviceName") not in services:
        raise Failed(f"{app}/{name} is {style} for services {services}, not BLUE_GREEN for {ctx.out('serviceName')}")
    return f"{app}/{name}: BLUE_GREEN for {ctx.out('serviceName')}"


@check("payments", "test-listener-answers", needs=("albDnsName", "testListenerPort"), settles=True)
def test_listener(ctx: Context) -> str:
    port = int(ctx.out("testListenerPort"))
    domain = ctx.expected.get("albDomainName")
    if domain:
        # With a domain the listener is HTTPS with that domain's certificate: under the load
        # balancer's own DNS name the TLS check would fail whatever the listener does.
        default = f"https://{domain}:{port}"
    else:
        scheme = "http" if port == 8080 else "https"  # the layer's defaults: 8443 with a certificate, 8080 without
        default = f"{scheme}://{ctx.out('albDnsName')}:{port}"
    base = ctx.url("payments-test-listener", default)
    try:
        answer = http.get(f"{base}/health", timeout=ctx.http_timeout)
    except OSError as exc:
        raise Failed(f"{base}/health: no answer ({exc})") from None
    if answer.status != 200:
        raise Failed(f"{base}/health answered {answer.status}")
    return f"{base}/health -> 200"
