"""CodeDeploy blue/green releases of ECS services: rollback, traffic control, the old tasks'
lifetime, a deployment group for every CODE_DEPLOY service, a private test listener.

No AWS Security Hub, Config or Checkov control covers CodeDeploy deployment groups; these rules
are the project's release requirements (``MLAPI blue/green releases``), written against the
CodeDeploy API's own limits where one applies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...aws_types import (
    CODEDEPLOY_DEPLOYMENT_GROUP,
    ECS_SERVICE,
    LISTENERS,
    LOAD_BALANCERS,
    SECURITY_GROUP,
    SG_INGRESS,
    SG_RULE,
)
from ..model import (
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    first,
    get,
    referenced,
    refers,
    text,
    truthy,
)
from ..registry import Scope, rule
from ._common import WORLD

RELEASES = "MLAPI blue/green releases"
ROLLBACK_ON_FAILURE = "DEPLOYMENT_FAILURE"
ROLLBACK_ON_ALARM = "DEPLOYMENT_STOP_ON_ALARM"
# CodeDeploy's own ceiling for keeping the blue task set after a successful shift (two days); the
# payments layer's `terminateBlueAfterMinutes` setting is validated against the same number.
MAX_BLUE_WAIT_MINUTES = 2880


def _block(res: Resource, path: str) -> Any:
    """A nested block input (the provider sends single blocks as objects, older states as 1-item lists)."""
    return first(res.get(path)) or {}


def _alarms(res: Resource) -> list[str]:
    config = _block(res, "alarmConfiguration")
    return [text(a) for a in as_list(get(config, "alarms")) if text(a)] if truthy(get(config, "enabled")) else []


@rule(
    "codedeploy-auto-rollback",
    title="CodeDeploy rolls a release back automatically when it fails, and when an alarm stops it",
    controls=(RELEASES,),
    fix="Set auto_rollback_configuration={enabled: True, events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']} "
    "on the deployment group.",
    types=(CODEDEPLOY_DEPLOYMENT_GROUP,),
)
def codedeploy_auto_rollback(res: Resource, env: Environment) -> Iterator[str]:
    config = _block(res, "autoRollbackConfiguration")
    events = {text(e) for e in as_list(get(config, "events"))}
    if not truthy(get(config, "enabled")):
        yield "automatic rollback is not enabled: a failed release leaves the broken version serving"
        return
    if ROLLBACK_ON_FAILURE not in events:
        yield f"automatic rollback does not include {ROLLBACK_ON_FAILURE}: a failed release is not rolled back"
    # An alarm only stops a release; without this event the half-shifted traffic stays where it is.
    if _alarms(res) and ROLLBACK_ON_ALARM not in events:
        yield f"the group watches alarms but automatic rollback does not include {ROLLBACK_ON_ALARM}"


@rule(
    "codedeploy-rollback-alarms",
    title="CodeDeploy watches at least one alarm during a release, and stops when it cannot read them",
    controls=(RELEASES,),
    fix="Set alarm_configuration={enabled: True, alarms: [<the service's 5xx and unhealthy-host alarm names>]} "
    "and leave ignore_poll_alarm_failure false.",
    types=(CODEDEPLOY_DEPLOYMENT_GROUP,),
)
def codedeploy_rollback_alarms(res: Resource, env: Environment) -> Iterator[str]:
    config = _block(res, "alarmConfiguration")
    if not truthy(get(config, "enabled")):
        yield "alarm monitoring is not enabled: a release that breaks the service shifts all traffic anyway"
    elif not _alarms(res):
        yield "alarm monitoring is enabled with no alarm names"
    if truthy(get(config, "ignorePollAlarmFailure")):
        yield "ignorePollAlarmFailure is true: the release continues when the alarms cannot be read"


def _name_from_arn(value: str, kind: str) -> str:
    """``...:targetgroup/<name>/<id>`` -> name, ``...:cluster/<name>`` -> name; a plain name unchanged."""
    marker = f":{kind}/"
    if marker not in value:
        return value
    return value.split(marker, 1)[1].split("/", 1)[0]


@rule(
    "codedeploy-blue-green",
    title="CodeDeploy deploys ECS services blue/green behind a load balancer: two target groups and a production listener",
    controls=(RELEASES,),
    fix="Set deployment_style={deployment_type: 'BLUE_GREEN', deployment_option: 'WITH_TRAFFIC_CONTROL'}, "
    "ecs_service={cluster_name, service_name} and load_balancer_info.target_group_pair_info with the blue and "
    "green target groups and prod_traffic_route.listener_arns=[<production listener>].",
    types=(CODEDEPLOY_DEPLOYMENT_GROUP,),
)
def codedeploy_blue_green(res: Resource, env: Environment) -> Iterator[str]:
    style = _block(res, "deploymentStyle")
    kind, option = text(get(style, "deploymentType")) or "IN_PLACE", text(get(style, "deploymentOption"))
    if kind != "BLUE_GREEN" or option != "WITH_TRAFFIC_CONTROL":
        yield (
            f"deploymentStyle is {kind}/{option or 'WITHOUT_TRAFFIC_CONTROL'}: traffic does not move through the "
            "load balancer from blue to green (BLUE_GREEN/WITH_TRAFFIC_CONTROL)"
        )
    service = _block(res, "ecsService")
    if not text(get(service, "serviceName")) or not text(get(service, "clusterName")):
        yield "ecsService does not name a cluster and a service"
    pair = first(get(_block(res, "loadBalancerInfo"), "targetGroupPairInfo")) or {}
    groups = {text(get(group, "name")) for group in as_list(get(pair, "targetGroups"))} - {""}
    if len(groups) != 2:
        yield f"loadBalancerInfo names {len(groups)} distinct target group(s): blue/green needs exactly two"
    if not [arn for arn in as_list(get(first(get(pair, "prodTrafficRoute")) or {}, "listenerArns")) if text(arn)]:
        yield "loadBalancerInfo names no production listener (prodTrafficRoute.listenerArns)"


@rule(
    "codedeploy-blue-termination",
    title="The old (blue) tasks are terminated after a successful release, within a bounded wait",
    controls=(RELEASES,),
    fix="Set blue_green_deployment_config.terminate_blue_instances_on_deployment_success={action: 'TERMINATE', "
    f"termination_wait_time_in_minutes: <at most {MAX_BLUE_WAIT_MINUTES}>}} (the rollback window).",
    types=(CODEDEPLOY_DEPLOYMENT_GROUP,),
)
def codedeploy_blue_termination(res: Resource, env: Environment) -> Iterator[str]:
    config = first(get(_block(res, "blueGreenDeploymentConfig"), "terminateBlueInstancesOnDeploymentSuccess")) or {}
    action = text(get(config, "action"))
    if action != "TERMINATE":
        # KEEP_ALIVE leaves the old task set running (and billed) until someone removes it.
        yield f"terminateBlueInstancesOnDeploymentSuccess.action is {action or 'unset'}, not TERMINATE: the old tasks keep running"
        return
    wait = get(config, "terminationWaitTimeInMinutes", 0)
    if not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_BLUE_WAIT_MINUTES:
        yield f"terminationWaitTimeInMinutes is {wait}: between 0 and {MAX_BLUE_WAIT_MINUTES} minutes"


def _controller(service: Resource) -> str:
    return text(get(_block(service, "deploymentController"), "type")) or "ECS"


def _names_service(group: Resource, service: Resource) -> bool:
    target = _block(group, "ecsService")
    return text(get(target, "serviceName")) == text(service.get("name")) and _name_from_arn(
        text(get(target, "clusterName")), "cluster"
    ) == _name_from_arn(text(service.get("cluster")), "cluster")


@rule(
    "ecs-codedeploy-service-has-group",
    title="Every ECS service with a CODE_DEPLOY controller has a deployment group that names it and its target group",
    controls=(RELEASES,),
    fix="Declare an aws.codedeploy.DeploymentGroup next to the service, with ecs_service={cluster_name, service_name} "
    "and the service's target group among load_balancer_info's target groups.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the service: the platform declares each deployment group "
    "next to its service.",
)
def ecs_codedeploy_service_has_group(view: View, env: Environment) -> Iterator[Finding]:
    groups = view.of_type(CODEDEPLOY_DEPLOYMENT_GROUP)
    for service in view.of_type(ECS_SERVICE):
        if _controller(service) != "CODE_DEPLOY":
            continue
        mine = [g for g in groups if _names_service(g, service)]
        if not mine:
            yield Finding(
                service,
                "the service has a CODE_DEPLOY controller but no deployment group names it: nothing can release it",
            )
            continue
        for group in mine:
            pair = first(get(_block(group, "loadBalancerInfo"), "targetGroupPairInfo")) or {}
            names = {text(get(g, "name")) for g in as_list(get(pair, "targetGroups"))}
            for balancer in as_list(service.get("loadBalancers")):
                arn = text(get(balancer, "targetGroupArn"))
                if arn and _name_from_arn(arn, "targetgroup") not in names:
                    yield Finding(
                        group,
                        f"the service starts in target group {_name_from_arn(arn, 'targetgroup')}, which the deployment "
                        f"group does not name ({', '.join(sorted(names - {''})) or 'none'}): the first release fails",
                    )


TEST_LISTENER_NOTE = (
    "The security groups live in the network stack, the test listener in the payments stack: one stack cannot see "
    "both. `invoke check` judges it over the whole plan."
)


def _world_ports(view: View, group: Resource) -> Iterator[tuple[Resource, int, int]]:
    """(declaring resource, from, to) of each TCP ingress permission of ``group`` open to the world."""
    for res in view.of_type(SG_INGRESS):
        sources = {text(res.get("cidrIpv4")), text(res.get("cidrIpv6"))}
        if sources & WORLD and refers(res, "securityGroupId", group):
            yield res, _port(res.get("fromPort"), 0), _port(res.get("toPort"), 65535)
    for res in view.of_type(SG_RULE):
        sources = {text(c) for c in [*as_list(res.get("cidrBlocks")), *as_list(res.get("ipv6CidrBlocks"))]}
        if res.get("type") == "ingress" and sources & WORLD and refers(res, "securityGroupId", group):
            yield res, _port(res.get("fromPort"), 0), _port(res.get("toPort"), 65535)
    for block in as_list(group.get("ingress")):
        sources = {text(c) for c in [*as_list(get(block, "cidrBlocks")), *as_list(get(block, "ipv6CidrBlocks"))]}
        if sources & WORLD:
            yield group, _port(get(block, "fromPort"), 0), _port(get(block, "toPort"), 65535)


def _port(value: Any, default: int) -> int:
    return int(value) if isinstance(value, (int, float)) else default


@rule(
    "codedeploy-test-listener-private",
    title="The blue/green test listener (the version not yet released) is not open to the world",
    controls=(RELEASES, "FSBP EC2.18"),
    fix="Admit the test listener's port only from the VPC or named tester ranges "
    "(mlapi-network:paymentsTestListenerCidrs), never 0.0.0.0/0 or ::/0.",
    scope=Scope.STACK,
    pack_note=TEST_LISTENER_NOTE,
)
def codedeploy_test_listener_private(view: View, env: Environment) -> Iterator[Finding]:
    listeners = view.of_type(*LISTENERS)
    for group in view.of_type(CODEDEPLOY_DEPLOYMENT_GROUP):
        pair = first(get(_block(group, "loadBalancerInfo"), "targetGroupPairInfo")) or {}
        arns = {text(a) for a in as_list(get(first(get(pair, "testTrafficRoute")) or {}, "listenerArns"))} - {""}
        for listener in listeners:
            if not (listener.refs() & arns) or not isinstance(listener.get("port"), (int, float)):
                continue
            port = int(listener.get("port"))
            security_groups = [
                sg
                for lb in referenced(view, listener, "loadBalancerArn", *LOAD_BALANCERS)
                for sg in view.of_type(SECURITY_GROUP)
                if refers(lb, "securityGroups", sg)
            ]
            if not security_groups:
                if not view.whole:
                    yield Finding(
                        listener, "the load balancer's security groups are not in this stack", not_judged=TEST_LISTENER_NOTE
                    )
                continue
            for sg in security_groups:
                for declared_by, low, high in _world_ports(view, sg):
                    if low <= port <= high:
                        yield Finding(
                            declared_by,
                            f"test listener port {port} of deployment group {group.label()} is open to the world on "
                            f"{sg.label()}: anyone can reach the release before it is approved",
                        )
