"""Target-tracking autoscaling of the service on requests per task."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer


@dataclass(frozen=True)
class AutoscalingArgs:
    namer: Namer
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    min_tasks: int
    max_tasks: int
    target_requests_per_task: int
    scale_out_cooldown: int
    scale_in_cooldown: int


class Autoscaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:compute:Autoscaling", name, None, opts)
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
        self.policy = aws.appautoscaling.Policy(
            f"{name}-requests-per-task",
            name=args.namer.name("api-requests-per-task"),
            policy_type="TargetTrackingScaling",
            service_namespace=self.target.service_namespace,
            scalable_dimension=self.target.scalable_dimension,
            resource_id=self.target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ALBRequestCountPerTarget",
                    # app/<alb>/<id>/targetgroup/<tg>/<id>: the metric of this target group on this ALB.
                    resource_label=pulumi.Output.concat(args.alb_arn_suffix, "/", args.target_group_arn_suffix),
                ),
                target_value=args.target_requests_per_task,
                # Out fast (a minute), in slowly (five): a short spike must not flap the task count.
                scale_out_cooldown=args.scale_out_cooldown,
                scale_in_cooldown=args.scale_in_cooldown,
            ),
            opts=child,
        )
        self.register_outputs({})
