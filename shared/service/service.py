"""The ECS service: the tasks behind the load balancer, on Fargate and Fargate Spot.

Two deployment controllers:

* ``ECS`` (rolling): Pulumi owns the task definition; the circuit breaker rolls a deployment whose
  tasks never become healthy back to the last one that did;
* ``CODE_DEPLOY`` (blue/green): CodeDeploy owns what runs after creation. A release creates a new
  task set from a new task definition and moves the service between the blue and green target
  groups, so a later ``pulumi up`` must not put back the task definition, target group, network
  or capacity settings it was created with (``IGNORED_UNDER_CODE_DEPLOY``): ECS refuses such
  updates on a CodeDeploy service, and undoing a release is CodeDeploy's job (its rollback).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from ..naming import Namer
from ..tags import name_tag
from . import component_type
from .cluster import CapacityStrategy
from .task import CONTAINER_NAME

Controller = Literal["ECS", "CODE_DEPLOY"]

# After creation the running count belongs to autoscaling; a later `up` must not reset it.
IGNORED_ALWAYS = ("desiredCount",)
# UpdateService refuses these for a CODE_DEPLOY service (a deployment changes the first five;
# ECS Exec is set when the service is created): a `pulumi up` that sent them would fail.
IGNORED_UNDER_CODE_DEPLOY = (
    "taskDefinition",
    "loadBalancers",
    "networkConfiguration",
    "capacityProviderStrategies",
    "platformVersion",
    "enableExecuteCommand",
)


# Fargate platform of the tasks (a blue/green release's AppSpec names it too).
PLATFORM_VERSION = "LATEST"


def ignored_changes(controller: Controller) -> list[str]:
    return [*IGNORED_ALWAYS, *(IGNORED_UNDER_CODE_DEPLOY if controller == "CODE_DEPLOY" else ())]


@dataclass(frozen=True)
class ApiServiceArgs:
    namer: Namer
    cluster_arn: pulumi.Input[str]
    task_definition_arn: pulumi.Input[str]
    strategy: CapacityStrategy
    desired_count: int
    private_subnet_ids: pulumi.Input[Sequence[str]]
    security_group_id: pulumi.Input[str]
    # The target group the service starts in (under CODE_DEPLOY: blue).
    target_group_arn: pulumi.Input[str]
    port: pulumi.Input[int]
    health_check_grace_period: int
    enable_execute_command: bool
    # Must exist first: the capacity providers on the cluster, a listener using the target group
    # (ECS refuses a target group no load balancer uses), and the task roles' policies.
    depends_on: Sequence[pulumi.Resource] = ()
    controller: Controller = "ECS"
    name_part: str = "api"
    container_name: str = CONTAINER_NAME


class ApiService(pulumi.ComponentResource):
    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "ApiService"), name, None, opts)
        service_name = args.namer.name(args.name_part, kind="ecs")
        rolling = args.controller == "ECS"
        self.service = aws.ecs.Service(
            f"{name}-service",
            name=service_name,
            cluster=args.cluster_arn,
            task_definition=args.task_definition_arn,
            desired_count=args.desired_count,
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(capacity_provider=provider, base=base, weight=weight)
                for provider, base, weight in args.strategy.items()
            ],
            # Rolling: a changed capacity provider strategy (fargateWeight, ...) is an in-place
            # update only together with a new deployment; without this flag the provider plans a
            # replacement, and creating a second service under the same name fails. (CodeDeploy
            # services refuse forced deployments: a release is CodeDeploy's.)
            force_new_deployment=True if rolling else None,
            platform_version=PLATFORM_VERSION,
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.private_subnet_ids,
                security_groups=[args.security_group_id],
                assign_public_ip=False,  # private subnets; egress through NAT
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn, container_name=args.container_name, container_port=args.port
                )
            ],
            deployment_controller=None if rolling else aws.ecs.ServiceDeploymentControllerArgs(type=args.controller),
            # A deployment whose tasks never become healthy stops and rolls back to the last one
            # that did. (Only the ECS controller has a circuit breaker; CodeDeploy rolls back itself.)
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True)
            if rolling
            else None,
            deployment_minimum_healthy_percent=100 if rolling else None,
            deployment_maximum_percent=200 if rolling else None,
            health_check_grace_period_seconds=args.health_check_grace_period,
            enable_execute_command=args.enable_execute_command,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            tags=name_tag(service_name),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                ignore_changes=ignored_changes(args.controller),
            ),
        )
        self.register_outputs({"serviceName": self.service.name})
