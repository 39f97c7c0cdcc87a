"""The ECS service: the tasks behind the load balancer, on Fargate and Fargate Spot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag

from .cluster import CapacityStrategy
from .task import CONTAINER_NAME


@dataclass(frozen=True)
class ApiServiceArgs:
    namer: Namer
    cluster_arn: pulumi.Input[str]
    task_definition_arn: pulumi.Input[str]
    strategy: CapacityStrategy
    desired_count: int
    private_subnet_ids: pulumi.Input[Sequence[str]]
    security_group_id: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    port: pulumi.Input[int]
    health_check_grace_period: int
    enable_execute_command: bool
    # Must exist first: the capacity providers on the cluster, a listener using the target group
    # (ECS refuses a target group no load balancer uses), and the task roles' policies.
    depends_on: Sequence[pulumi.Resource] = ()


class ApiService(pulumi.ComponentResource):
    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:compute:ApiService", name, None, opts)
        service_name = args.namer.name("api", kind="ecs")
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
            # A changed capacity provider strategy (fargateWeight, ...) is an in-place update only
            # together with a new deployment; without this flag the provider plans a replacement,
            # and creating a second service under the same name fails.
            force_new_deployment=True,
            platform_version="LATEST",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.private_subnet_ids,
                security_groups=[args.security_group_id],
                assign_public_ip=False,  # private subnets; egress through NAT
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn, container_name=CONTAINER_NAME, container_port=args.port
                )
            ],
            # A deployment whose tasks never become healthy stops and rolls back to the last one that did.
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            health_check_grace_period_seconds=args.health_check_grace_period,
            enable_execute_command=args.enable_execute_command,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            tags=name_tag(service_name),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                # After creation the running count belongs to autoscaling; a later `up` must not
                # reset it to the configured starting count.
                ignore_changes=["desiredCount"],
            ),
        )
        self.register_outputs({"serviceName": self.service.name})
