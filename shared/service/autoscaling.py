"""Target-tracking autoscaling of a service's running task count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..naming import Namer
from . import component_type


@dataclass(frozen=True)
class TrackedMetric:
    """One target-tracking policy: keep ``metric_type`` (an ECS predefined metric) near ``target``."""

    key: str
    metric_type: str  # ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization, ALBRequestCountPerTarget
    target: float
    # ALBRequestCountPerTarget only: app/<alb>/<id>/targetgroup/<tg>/<id>.
    resource_label: pulumi.Input[str] | None = None


def requests_per_task(
    alb_arn_suffix: pulumi.Input[str], target_group_arn_suffix: pulumi.Input[str], target: int
) -> TrackedMetric:
    # The metric of this target group on this ALB.
    label = pulumi.Output.concat(alb_arn_suffix, "/", target_group_arn_suffix)
    return TrackedMetric("requests-per-task", "ALBRequestCountPerTarget", target, label)


@dataclass(frozen=True)
class AutoscalingArgs:
    namer: Namer
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    min_tasks: int
    max_tasks: int
    metrics: Sequence[TrackedMetric]
    scale_out_cooldown: int
    scale_in_cooldown: int
    # Policy names are mlapi-<part>-<metric key>-<suffix>.
    name_part: str = "api"


class Autoscaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "Autoscaling"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # No role_arn: Application Auto Scaling uses its ECS service-linked role.
        self.target = aws.appautoscaling.Target(
            f"{name}-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", args.service_name),
            min_capacity=args.min_tasks,
            max_capacity=args.max_tasks,
            opts=child,
        )
        # With several policies the service scales out when any wants more and in only when all
        # agree (Application Auto Scaling's rule), so CPU and memory can both be tracked safely.
        self.policies: dict[str, aws.appautoscaling.Policy] = {}
        for metric in args.metrics:
            self.policies[metric.key] = aws.appautoscaling.Policy(
                f"{name}-{metric.key}",
                name=args.namer.name(f"{args.name_part}-{metric.key}"),
                policy_type="TargetTrackingScaling",
                service_namespace=self.target.service_namespace,
                scalable_dimension=self.target.scalable_dimension,
                resource_id=self.target.resource_id,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type=metric.metric_type,
                        resource_label=metric.resource_label,
                    ),
                    target_value=metric.target,
                    # Out fast (a minute), in slowly (five): a short spike must not flap the task count.
                    scale_out_cooldown=args.scale_out_cooldown,
                    scale_in_cooldown=args.scale_in_cooldown,
                ),
                opts=child,
            )
        self.register_outputs({})
