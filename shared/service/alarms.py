"""CloudWatch alarms on what a user of a service would notice first.

Under blue/green there are two target groups; the per-target-group alarms exist for each (the
idle one has no targets and no traffic, and missing data is not breaching), so whichever serves
production after a release is watched, and CodeDeploy can roll back on any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import pulumi
import pulumi_aws as aws

from ..naming import Namer
from . import component_type

# Average CPU or memory at which the cpu-high / memory-high alarms fire unless a layer says otherwise.
UTILIZATION_ALARM_PERCENT = 80


@dataclass(frozen=True)
class AlarmsArgs:
    namer: Namer
    alb_arn_suffix: pulumi.Input[str]
    # Label -> target group ARN suffix. One unlabelled group ({"": suffix}) keeps the alarm keys
    # plain; labelled groups ("blue", "green") get one alarm each, keyed <alarm>-<label>.
    target_groups: Mapping[str, pulumi.Input[str]]
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    min_tasks: int
    topic_arn: str | None = None
    cpu_threshold: int = UTILIZATION_ALARM_PERCENT
    memory_threshold: int = UTILIZATION_ALARM_PERCENT
    # Alarm names are mlapi-<part>-<key>-<suffix>.
    name_part: str = "api"


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


TASKS_BELOW_MINIMUM_MISSING_DATA = "missing"


# Why each treat_missing_data: a metric that is absent because nothing happened (no request, no
# unhealthy host, an idle target group) is "notBreaching"; CPU and memory are absent only when no
# task runs, which tasks-below-minimum reports, so they stay "missing" (INSUFFICIENT_DATA, no page).
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
        "Service CPU at or above {threshold}% for 5 minutes (scaling is not keeping up)",
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
        "Service memory at or above {threshold}% for 5 minutes",
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
    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "Alarms"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        service = {"ClusterName": args.cluster_name, "ServiceName": args.service_name}
        actions = [args.topic_arn] if args.topic_arn else []
        thresholds = {"cpu-high": args.cpu_threshold, "memory-high": args.memory_threshold}
        specs: list[tuple[AlarmSpec, Mapping[str, pulumi.Input[str]]]] = []
        for spec in ALARMS:
            if spec.key in thresholds:
                threshold = thresholds[spec.key]
                spec = replace(spec, threshold=threshold, description=spec.description.format(threshold=threshold))
            if spec.scope == "target-group":
                for label, suffix in args.target_groups.items():
                    keyed = (
                        replace(spec, key=f"{spec.key}-{label}", description=f"{spec.description} ({label})") if label else spec
                    )
                    specs.append((keyed, {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": suffix}))
            elif spec.scope == "load-balancer":
                specs.append((spec, {"LoadBalancer": args.alb_arn_suffix}))
            else:
                specs.append((spec, service))
        specs.append(
            (
                # Container Insights' task count: fewer running tasks than the floor autoscaling
                # keeps means tasks are crashing or Spot capacity was reclaimed and not replaced.
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
                    # Not "breaching": a new environment has no Container Insights data for its first
                    # minutes, and breaching would page on every one. While the service exists Container
                    # Insights reports its count (0 included), so real shortfalls still breach; data
                    # absent altogether leaves the alarm INSUFFICIENT_DATA, never OK.
                    TASKS_BELOW_MINIMUM_MISSING_DATA,
                    "service",
                ),
                service,
            )
        )
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for spec, dimensions in specs:
            self.alarms[spec.key] = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.key}",
                name=args.namer.name(f"{args.name_part}-{spec.key}"),
                alarm_description=spec.description,
                namespace=spec.namespace,
                metric_name=spec.metric,
                dimensions=dimensions,
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
