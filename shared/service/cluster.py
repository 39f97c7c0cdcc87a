"""The ECS cluster: Container Insights, Fargate and Fargate Spot capacity, ECS Exec encryption."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..naming import Namer
from ..tags import name_tag
from . import component_type


@dataclass(frozen=True)
class CapacityStrategy:
    """How tasks spread over FARGATE and FARGATE_SPOT: ``base`` tasks on on-demand Fargate first,
    the rest split by weight (3:7 puts 70% of them on Spot)."""

    fargate_base: int
    fargate_weight: int
    fargate_spot_weight: int

    def items(self) -> list[tuple[str, int, int]]:
        """(capacity provider, base, weight) for each provider."""
        return [("FARGATE", self.fargate_base, self.fargate_weight), ("FARGATE_SPOT", 0, self.fargate_spot_weight)]


@dataclass(frozen=True)
class ClusterArgs:
    namer: Namer
    strategy: CapacityStrategy
    kms_key_arn: pulumi.Input[str]
    enable_execute_command: bool
    # The resource part of the cluster's name (``mlapi-<part>-<suffix>``).
    name_part: str = "cluster"


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "Cluster"), name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        cluster_name = n.name(args.name_part, kind="ecs")
        configuration = None
        if args.enable_execute_command:
            # ECS Exec sessions are encrypted with the given key and their output goes to
            # the task's own (encrypted) awslogs group, so who ran what stays auditable.
            configuration = aws.ecs.ClusterConfigurationArgs(
                execute_command_configuration=aws.ecs.ClusterConfigurationExecuteCommandConfigurationArgs(
                    kms_key_id=args.kms_key_arn,
                    logging="DEFAULT",
                )
            )
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            configuration=configuration,
            tags=name_tag(cluster_name),
            opts=child,
        )
        self.capacity_providers = aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity-providers",
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                    capacity_provider=provider, base=base, weight=weight
                )
                for provider, base, weight in args.strategy.items()
            ],
            opts=child,
        )
        self.register_outputs({"clusterName": self.cluster.name})
