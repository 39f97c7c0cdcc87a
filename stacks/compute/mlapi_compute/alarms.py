"""CloudWatch alarms on what a user of the API would notice first."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer


@dataclass(frozen=True)
class AlarmsArgs:
    namer: Namer
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    min_tasks: int
    topic_arn: str | None = None


@dataclass(frozen=True)
class AlarmSpec:
    key: str
    description: str
    namespace: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    period: int
    evaluation_periods: int
    treat_missing_data: str
    scope: str  # "target-group", "load-balancer" or "service": which dimensions the metric has


# 5xx counts are Sums over five minutes, so a single failed request does not page anyone.
ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        "unhealthy-hosts",
        "Tasks failing the load balancer health check for 3 minutes",
        "AWS/ApplicationELB",
        "UnHealthyHostCount",
        "Maximum",
        "GreaterThanOrEqualToThreshold",
        1,
        60,
        3,
        "notBreaching",
        "target-group",
    ),
    AlarmSpec(
        "target-5xx",
        "The API answered 10 or more 5xx responses in 5 minutes",
        "AWS/ApplicationELB",
        "HTTPCode_Target_5XX_Count",
        "Sum",
        "GreaterThanOrEqualToThreshold",
        10,
        300,
        1,
        "notBreaching",
        "target-group",
    ),
    AlarmSpec(
        "alb-5xx",
        "The load balancer itself answered 10 or more 5xx responses in 5 minutes (no healthy task, timeouts)",
        "AWS/ApplicationELB",
        "HTTPCode_ELB_5XX_Count",
        "Sum",
        "GreaterThanOrEqualToThreshold",
        10,
        300,
        1,
        "notBreaching",
        "load-balancer",
    ),
    AlarmSpec(
        "cpu-high",
        "Service CPU at or above 80% for 5 minutes (scaling is not keeping up)",
        "AWS/ECS",
        "CPUUtilization",
        "Average",
        "GreaterThanOrEqualToThreshold",
        80,
        60,
        5,
        "missing",
        "service",
    ),
    AlarmSpec(
        "memory-high",
        "Service memory at or above 80% for 5 minutes",
        "AWS/ECS",
        "MemoryUtilization",
        "Average",
        "GreaterThanOrEqualToThreshold",
        80,
        60,
        5,
        "missing",
        "service",
    ),
)


class Alarms(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:compute:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        dimensions = {
            "target-group": {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": args.target_group_arn_suffix},
            "load-balancer": {"LoadBalancer": args.alb_arn_suffix},
            "service": {"ClusterName": args.cluster_name, "ServiceName": args.service_name},
        }
        actions = [args.topic_arn] if args.topic_arn else []
        specs = [
            *ALARMS,
            # Container Insights' task count: fewer running tasks than the floor autoscaling keeps
            # means tasks are crashing or Spot capacity was reclaimed and not replaced.
            AlarmSpec(
                "tasks-below-minimum",
                f"Fewer than {args.min_tasks} running tasks for 5 minutes",
                "ECS/ContainerInsights",
                "RunningTaskCount",
                "Minimum",
                "LessThanThreshold",
                args.min_tasks,
                60,
                5,
                "breaching",
                "service",
            ),
        ]
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for spec in specs:
            self.alarms[spec.key] = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.key}",
                name=args.namer.name(f"api-{spec.key}"),
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=dimensions[spec.scope],
                statistic=spec.statistic,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                period=spec.period,
                evaluation_periods=spec.evaluation_periods,
                treat_missing_data=spec.treat_missing_data,
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )
        self.register_outputs({})
