"""A monthly cost estimate of a plan document (format 1, docs/plan-format.md).

Resources are priced by their Pulumi type token and their own inputs, never by the layer they sit
in, so a new layer built from known kinds (the payments workload: another ECS service, load
balancer and interface endpoints) is priced without changes here. Each resource ends in one of
three states: priced (its charges, each quantity x unit price), free (the resource itself costs
nothing, with the reason), or not priced (a kind or setting the estimator does not model, with the
reason): an unknown kind is listed, never counted as zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import aws_types as aws
from ..errors import PlatformError
from .prices import Prices, PriceTable
from .usage import Usage

PRICED, FREE, NOT_PRICED = "priced", "free", "not priced"

# Packages whose types are not cloud resources: the engine's own (stack, providers, stack
# references), values generated locally, and this project's component resources (their children
# are priced one by one).
LOCAL_PACKAGES = frozenset({"pulumi", "random", "tls", "mlapi"})


@dataclass(frozen=True)
class Charge:
    """One line of a resource's bill: ``quantity`` ``unit`` at ``unit_price`` dollars each."""

    item: str
    quantity: float
    unit: str
    unit_price: float

    @property
    def monthly(self) -> float:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class PlanResource:
    layer: str
    type: str
    name: str
    region: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class ResourceCost:
    resource: PlanResource
    status: str
    charges: tuple[Charge, ...] = ()
    note: str = ""

    @property
    def monthly(self) -> float:
        return sum(c.monthly for c in self.charges)


@dataclass(frozen=True)
class LayerCost:
    layer: str
    resources: tuple[ResourceCost, ...]

    @property
    def monthly(self) -> float:
        return sum(r.monthly for r in self.resources)


@dataclass(frozen=True)
class Estimate:
    environment: str
    region: str
    protected: bool
    prices: Prices
    usage: Usage
    layers: tuple[LayerCost, ...]

    @property
    def total(self) -> float:
        return sum(layer.monthly for layer in self.layers)

    def with_status(self, status: str) -> list[ResourceCost]:
        return [r for layer in self.layers for r in layer.resources if r.status == status]


class NotPriced(Exception):
    """A resource of a known kind with a setting the estimator does not model."""


# --- reading the plan ---------------------------------------------------------------------------


def plan_resources(document: Mapping[str, Any]) -> list[PlanResource]:
    """Every resource of every layer with the region it is created in: its provider's (the edge
    layer's CloudFront resources use a us-east-1 provider) or its own ``region`` input."""
    default_region = str(document.get("region", ""))
    found: list[PlanResource] = []
    for layer in document.get("layers", []):
        items = layer.get("resources", [])
        provider_regions = {
            r["urn"]: (r.get("inputs") or {}).get("region") for r in items if str(r.get("type", "")).startswith(aws.AWS_PROVIDER)
        }
        for item in items:
            inputs = item.get("inputs") or {}
            region = default_region
            if item.get("provider"):
                region = provider_regions.get(str(item["provider"]).rsplit("::", 1)[0]) or region
            if isinstance(inputs.get("region"), str) and str(item["type"]).startswith("aws:"):
                region = inputs["region"]
            found.append(PlanResource(str(layer.get("layer")), str(item["type"]), str(item["name"]), region, inputs))
    return found


def _listed(value: Any) -> list[Any]:
    """A list input that the plan may hold as JSON text (WAF rules, container definitions)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return list(value) if isinstance(value, list) else []


def _last_segment(reference: Any, marker: str) -> str:
    """``cluster/name`` -> ``name`` from an ARN, or the value itself when it is a plain name."""
    text = str(reference or "")
    return text.split(marker, 1)[1] if marker in text else text


@dataclass
class Context:
    """What a pricer may consult: the whole plan, the prices of each region, the assumptions."""

    resources: Sequence[PlanResource]
    table: PriceTable
    usage: Usage
    _prices: dict[str, Prices] = field(default_factory=dict)

    def prices(self, region: str) -> Prices:
        if region not in self._prices:
            self._prices[region] = self.table.for_region(region)
        return self._prices[region]

    @property
    def hours(self) -> float:
        return self.usage.hours_per_month

    def months(self, region: str) -> float:
        """The part of a month the environment runs (hoursPerMonth / 730)."""
        return self.usage.share(self.prices(region).hours_per_month)

    def of_type(self, type_token: str) -> list[PlanResource]:
        return [r for r in self.resources if r.type == type_token]


Pricer = Callable[[PlanResource, Context], tuple[list[Charge], str]]


# --- networking ---------------------------------------------------------------------------------


def _nat_gateway(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p = ctx.prices(res.region)
    count = len(ctx.of_type(res.type)) or 1
    gb = ctx.usage.nat_gb * ctx.months(res.region) / count
    return [
        Charge("NAT gateway hours", ctx.hours, "h", p["natGatewayHour"]),
        Charge(f"data processed (natGbPerMonth / {count} gateway(s))", gb, "GB", p["natGatewayGb"]),
    ], "cross-AZ transfer to the gateway not included"


def _eip(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    return [Charge("public IPv4 address hours", ctx.hours, "h", ctx.prices(res.region)["publicIpv4Hour"])], ""


def _vpc_endpoint(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    kind = str(res.inputs.get("vpcEndpointType") or "Gateway")
    if kind == "Gateway":
        return [], "gateway endpoints (S3, DynamoDB) are free"
    if kind != "Interface":
        raise NotPriced(f"vpcEndpointType {kind} is not modelled (only Interface and Gateway)")
    p = ctx.prices(res.region)
    # One network interface, billed hourly, per subnet (= per AZ) the endpoint is placed in.
    azs = len(_listed(res.inputs.get("subnetIds")))
    if azs == 0:
        raise NotPriced("an interface endpoint without subnetIds: the number of AZs is unknown")
    return [
        Charge(f"endpoint hours x {azs} AZ(s)", ctx.hours * azs, "ENI-h", p["interfaceEndpointHour"]),
        Charge(
            "data processed (interfaceEndpointGbPerMonth)",
            ctx.usage.endpoint_gb * ctx.months(res.region),
            "GB",
            p["interfaceEndpointGb"],
        ),
    ], ""


def _load_balancer(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    kind = str(res.inputs.get("loadBalancerType") or "application")
    if kind not in ("application", "network"):
        raise NotPriced(f"loadBalancerType {kind} is not modelled (only application and network)")
    p = ctx.prices(res.region)
    prefix = "alb" if kind == "application" else "nlb"
    charges = [
        Charge("load balancer hours", ctx.hours, "h", p[f"{prefix}Hour"]),
        Charge("capacity units (loadBalancerLcus)", ctx.hours * ctx.usage.lcus, "LCU-h", p[f"{prefix}LcuHour"]),
    ]
    if not res.inputs.get("internal"):
        # An internet-facing load balancer holds at least one public IPv4 address per AZ, billed
        # like any other public address since February 2024.
        azs = len(_listed(res.inputs.get("subnets"))) or len(_listed(res.inputs.get("subnetMappings")))
        if azs:
            charges.append(Charge(f"public IPv4 addresses x {azs} AZ(s)", ctx.hours * azs, "h", p["publicIpv4Hour"]))
    return charges, ""


# --- containers ---------------------------------------------------------------------------------

_TASK_SIZE = re.compile(r"^\s*([0-9.]+)\s*(vcpu|gb)?\s*$", re.IGNORECASE)


def _task_size(value: Any, per_unit: float, what: str) -> float:
    """Task CPU or memory in vCPU / GB: ``"1024"`` (units or MiB) or ``"1 vCPU"`` / ``"2 GB"``."""
    match = _TASK_SIZE.match(str(value or ""))
    if not match:
        raise NotPriced(f"the task definition's {what} {value!r} is not a Fargate task size")
    number = float(match.group(1))
    return number if match.group(2) else number / per_unit


def split_tasks(tasks: float, strategies: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Tasks per capacity provider: each provider's ``base`` first, the rest in proportion to the
    weights (ECS places tasks to approach that ratio; an average over a month lands on it)."""
    counts = {str(s.get("capacityProvider")): 0.0 for s in strategies}
    remaining = tasks
    for s in strategies:
        placed = min(remaining, float(s.get("base") or 0))
        counts[str(s.get("capacityProvider"))] += placed
        remaining -= placed
    weights = {str(s.get("capacityProvider")): float(s.get("weight") or 0) for s in strategies}
    if remaining > 0:
        total = sum(weights.values())
        if total <= 0:
            raise NotPriced("a capacity provider strategy with no positive weight: where tasks above the base run is undefined")
        for provider, weight in weights.items():
            counts[provider] += remaining * weight / total
    return counts


def _ecs_service(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    launch = res.inputs.get("launchType")
    if launch and launch != "FARGATE":
        raise NotPriced(f"launchType {launch}: container instances are EC2, which the estimator does not price")
    cluster = _last_segment(res.inputs.get("cluster"), "cluster/")
    service = str(res.inputs.get("name") or res.name)
    strategies = _listed(res.inputs.get("capacityProviderStrategies"))
    if not strategies and not launch:
        defaults = [
            r
            for r in ctx.of_type("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
            if r.inputs.get("clusterName") == cluster
        ]
        strategies = _listed(defaults[0].inputs.get("defaultCapacityProviderStrategies")) if defaults else []
    if not strategies:
        strategies = [{"capacityProvider": "FARGATE", "base": 0, "weight": 1}]
    unknown = sorted({str(s.get("capacityProvider")) for s in strategies} - {"FARGATE", "FARGATE_SPOT"})
    if unknown:
        raise NotPriced(f"capacity provider(s) {', '.join(unknown)}: only FARGATE and FARGATE_SPOT are priced")

    family = _last_segment(res.inputs.get("taskDefinition"), "task-definition/").split(":")[0]
    definitions = [r for r in ctx.of_type(aws.TASK_DEFINITION) if r.inputs.get("family") == family]
    if not definitions:
        raise NotPriced(f"its task definition {family!r} is not in the plan (task size unknown)")
    task = definitions[0].inputs
    platform = task.get("runtimePlatform") or {}
    if str(platform.get("operatingSystemFamily") or "LINUX") != "LINUX":
        raise NotPriced(f"operatingSystemFamily {platform.get('operatingSystemFamily')}: only Linux tasks are priced")
    vcpu = _task_size(task.get("cpu"), 1024, "cpu")
    gb = _task_size(task.get("memory"), 1024, "memory")

    # The minimum the service scales down to (its scaling target), else its desired count.
    resource_id = f"service/{cluster}/{service}"
    targets = [r for r in ctx.of_type(aws.SCALING_TARGET) if r.inputs.get("resourceId") == resource_id]
    minimum = float(targets[0].inputs.get("minCapacity") or 0) if targets else float(res.inputs.get("desiredCount") or 0)
    tasks = minimum + ctx.usage.extra_tasks
    split = split_tasks(tasks, strategies)
    on_demand, spot = split.get("FARGATE", 0.0), split.get("FARGATE_SPOT", 0.0)

    p = ctx.prices(res.region)
    notes = [f"{tasks:g} task(s) of {vcpu:g} vCPU / {gb:g} GB: {on_demand:g} on FARGATE, {spot:g} on FARGATE_SPOT"]
    arm = str(platform.get("cpuArchitecture") or "X86_64") == "ARM64"
    if arm and spot:
        # Fargate Spot does not run ARM64 tasks: ECS places them on demand.
        notes.append("ARM64 tasks cannot run on Fargate Spot: all priced on demand")
        on_demand, spot = on_demand + spot, 0.0
    cpu_key, gb_key = ("fargateArmVcpuHour", "fargateArmGbHour") if arm else ("fargateVcpuHour", "fargateGbHour")
    charges = []
    if on_demand:
        charges += [
            Charge("Fargate vCPU-hours", on_demand * vcpu * ctx.hours, "vCPU-h", p[cpu_key]),
            Charge("Fargate memory GB-hours", on_demand * gb * ctx.hours, "GB-h", p[gb_key]),
        ]
    if spot:
        charges += [
            Charge("Fargate Spot vCPU-hours", spot * vcpu * ctx.hours, "vCPU-h", p["fargateSpotVcpuHour"]),
            Charge("Fargate Spot memory GB-hours", spot * gb * ctx.hours, "GB-h", p["fargateSpotGbHour"]),
        ]
    extra_storage = float((task.get("ephemeralStorage") or {}).get("sizeInGib") or 20) - 20
    if extra_storage > 0:
        charges.append(
            Charge("ephemeral storage above 20 GB", tasks * extra_storage * ctx.hours, "GB-h", p["fargateStorageGbHour"])
        )
    return charges, "; ".join(notes)


def _ecs_cluster(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    settings = {str(s.get("name")): str(s.get("value")) for s in _listed(res.inputs.get("settings"))}
    insights = settings.get("containerInsights", "disabled")
    if insights not in ("enabled", "enhanced"):
        return [], "a cluster is free; its services are priced"
    name = str(res.inputs.get("name") or res.name)
    services = [r for r in ctx.of_type(aws.ECS_SERVICE) if _last_segment(r.inputs.get("cluster"), "cluster/") == name]
    p, months = ctx.prices(res.region), ctx.months(res.region)
    metrics = ctx.usage.insights_cluster_metrics + ctx.usage.insights_service_metrics * len(services)
    note = f"Container Insights ({insights}) for {len(services)} service(s)"
    if insights == "enhanced":
        note += "; enhanced mode's task- and container-level metrics are not counted"
    return [
        Charge("Container Insights metrics", metrics * months, "metric-month", p["customMetricMonth"]),
        Charge("Container Insights performance log ingestion", ctx.usage.logs_ingest_gb * months, "GB", p["logsIngestGb"]),
    ], note


# --- data ---------------------------------------------------------------------------------------


def _aurora_cluster_of(identifier: Any, ctx: Context) -> PlanResource | None:
    clusters = [r for r in ctx.of_type(aws.RDS_CLUSTER) if r.inputs.get("clusterIdentifier") == identifier]
    return clusters[0] if clusters else None


def _io_optimized(cluster: PlanResource) -> bool:
    return cluster.inputs.get("storageType") == "aurora-iopt1"


def _aurora_cluster(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    engine = str(res.inputs.get("engine") or "")
    if not engine.startswith("aurora"):
        raise NotPriced(f"engine {engine}: only Aurora clusters are priced")
    if res.inputs.get("engineMode") == "serverless":
        raise NotPriced("Aurora Serverless v1 (engineMode serverless) is not priced")
    p, months = ctx.prices(res.region), ctx.months(res.region)
    optimized = _io_optimized(res)
    charges = [
        Charge(
            "storage (aurora.storageGb)",
            ctx.usage.aurora_storage_gb * months,
            "GB-month",
            p["auroraIoOptimizedStorageGbMonth" if optimized else "auroraStorageGbMonth"],
        )
    ]
    if not optimized:
        charges.append(
            Charge("I/O (aurora.ioMillionsPerMonth)", ctx.usage.aurora_io_millions * months, "million", p["auroraIoMillion"])
        )
    if res.inputs.get("manageMasterUserPassword"):
        # RDS keeps the managed master password in a Secrets Manager secret billed to the account.
        charges.append(Charge("managed master password secret", months, "month", p["secretMonth"]))
    note = "instances priced separately; backup storage up to the cluster's size is free, snapshots beyond it not priced"
    return charges, note


def _aurora_instance(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    instance_class = str(res.inputs.get("instanceClass") or "")
    if instance_class != "db.serverless":
        raise NotPriced(f"instance class {instance_class}: only Aurora Serverless v2 (db.serverless) is priced")
    cluster = _aurora_cluster_of(res.inputs.get("clusterIdentifier"), ctx)
    if cluster is None:
        raise NotPriced(f"its cluster {res.inputs.get('clusterIdentifier')!r} is not in the plan (capacity range unknown)")
    scaling = cluster.inputs.get("serverlessv2ScalingConfiguration") or {}
    floor, ceiling = float(scaling.get("minCapacity") or 0), float(scaling.get("maxCapacity") or 1)
    p = ctx.prices(res.region)
    price = p["auroraIoOptimizedAcuHour" if _io_optimized(cluster) else "auroraAcuHour"]
    if floor == 0:
        # Auto-pause: a paused instance bills no ACUs; awake, it runs at 0.5 ACU or more.
        acus = min(max(ctx.usage.aurora_acus, 0.5), ceiling)
        awake = ctx.hours * ctx.usage.aurora_active_share
        note = f"auto-pause (minCapacity 0): billed only while awake, aurora.activeShare = {ctx.usage.aurora_active_share:g} of the hours"
        return [Charge(f"ACU-hours ({acus:g} ACU while awake)", acus * awake, "ACU-h", price)], note
    acus = min(max(ctx.usage.aurora_acus, floor), ceiling)
    return [Charge(f"ACU-hours ({acus:g} ACU; floor {floor:g}, max {ceiling:g})", acus * ctx.hours, "ACU-h", price)], ""


def _dynamodb_table(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p, months = ctx.prices(res.region), ctx.months(res.region)
    usage = ctx.usage
    notes = []
    if str(res.inputs.get("billingMode") or "PROVISIONED") == "PAY_PER_REQUEST":
        charges = [
            Charge(
                "on-demand reads (dynamodb.readsMillionsPerMonth)",
                usage.dynamodb_reads_millions * months,
                "million RRU",
                p["dynamodbReadMillion"],
            ),
            Charge(
                "on-demand writes (dynamodb.writesMillionsPerMonth)",
                usage.dynamodb_writes_millions * months,
                "million WRU",
                p["dynamodbWriteMillion"],
            ),
        ]
    else:
        indexes = _listed(res.inputs.get("globalSecondaryIndexes"))
        rcu = float(res.inputs.get("readCapacity") or 0) + sum(float(i.get("readCapacity") or 0) for i in indexes)
        wcu = float(res.inputs.get("writeCapacity") or 0) + sum(float(i.get("writeCapacity") or 0) for i in indexes)
        charges = [
            Charge("provisioned read capacity", rcu * ctx.hours, "RCU-h", p["dynamodbRcuHour"]),
            Charge("provisioned write capacity", wcu * ctx.hours, "WCU-h", p["dynamodbWcuHour"]),
        ]
    charges.append(
        Charge("storage (dynamodb.storageGb)", usage.dynamodb_storage_gb * months, "GB-month", p["dynamodbStorageGbMonth"])
    )
    if (res.inputs.get("pointInTimeRecovery") or {}).get("enabled"):
        charges.append(Charge("point-in-time recovery", usage.dynamodb_storage_gb * months, "GB-month", p["dynamodbPitrGbMonth"]))
    if res.inputs.get("tableClass") == "STANDARD_INFREQUENT_ACCESS":
        notes.append("Standard-IA table class priced at Standard rates")
    if _listed(res.inputs.get("replicas")):
        notes.append("global table replicas not priced")
    return charges, "; ".join(notes)


# --- security, observability, storage -----------------------------------------------------------


def _kms_key(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p, months = ctx.prices(res.region), ctx.months(res.region)
    return [
        Charge("customer managed key", months, "month", p["kmsKeyMonth"]),
        Charge("API requests (kmsRequestsPerKey)", ctx.usage.kms_requests * months / 10_000, "10k requests", p["kmsRequests10k"]),
    ], ""


def _secret(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p, months = ctx.prices(res.region), ctx.months(res.region)
    return [
        Charge("secret", months, "month", p["secretMonth"]),
        Charge(
            "API calls (secretApiCallsPerSecret)", ctx.usage.secret_calls * months / 10_000, "10k calls", p["secretApiCalls10k"]
        ),
    ], ""


def _log_group(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p, months = ctx.prices(res.region), ctx.months(res.region)
    retention = float(res.inputs.get("retentionInDays") or 0)
    # Stored volume once the group is at its retention: a month's ingestion per month kept.
    # Never-expiring groups are counted at a year (and flagged).
    kept_months = min(retention / 30, 12) if retention else 12
    ingest = ctx.usage.logs_ingest_gb * months
    notes = [] if retention else ["never expires: storage counted at 12 months"]
    if res.inputs.get("logGroupClass") == "INFREQUENT_ACCESS":
        notes.append("Infrequent Access class priced at Standard rates")
    return [
        Charge("ingestion (logs.ingestGbPerGroup)", ingest, "GB", p["logsIngestGb"]),
        Charge(
            f"storage ({kept_months:g} month(s) kept, uncompressed)", ingest * kept_months, "GB-month", p["logsStorageGbMonth"]
        ),
    ], "; ".join(notes)


def _metric_alarm(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p, months = ctx.prices(res.region), ctx.months(res.region)
    queries = _listed(res.inputs.get("metricQueries"))
    metrics = sum(1 for q in queries if q.get("metric")) if queries else 1
    periods = [float(res.inputs.get("period") or 60)] + [float((q.get("metric") or {}).get("period") or 60) for q in queries]
    high_resolution = min(periods) < 60
    key = "alarmHighResolutionMonth" if high_resolution else "alarmStandardMonth"
    return [
        Charge(f"{'high' if high_resolution else 'standard'}-resolution alarm metrics", metrics * months, "alarm-month", p[key])
    ], ""


def _ecr_repository(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p = ctx.prices(res.region)
    return [
        Charge(
            "image storage (ecrStorageGbPerRepository)",
            ctx.usage.ecr_gb * ctx.months(res.region),
            "GB-month",
            p["ecrStorageGbMonth"],
        )
    ], ""


def _s3_bucket(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p = ctx.prices(res.region)
    return [
        Charge("storage (s3StorageGbPerBucket)", ctx.usage.s3_gb * ctx.months(res.region), "GB-month", p["s3StorageGbMonth"])
    ], ""


_PAID_RULE_GROUPS = ("AWSManagedRulesBotControlRuleSet", "AWSManagedRulesATPRuleSet", "AWSManagedRulesACFPRuleSet")


def _web_acl(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p, months = ctx.prices(res.region), ctx.months(res.region)
    rules = _listed(res.inputs.get("rules")) or _listed(res.inputs.get("ruleJson"))
    paid = sorted({g for g in _PAID_RULE_GROUPS if g in json.dumps(rules)})
    note = f"subscription fees of {', '.join(paid)} not included" if paid else ""
    return [
        Charge("web ACL", months, "month", p["wafAclMonth"]),
        Charge(f"rules ({len(rules)})", len(rules) * months, "rule-month", p["wafRuleMonth"]),
        Charge(
            "requests inspected (requestsPerMonth)",
            ctx.usage.requests_per_month * months / 1e6,
            "million",
            p["wafRequestsMillion"],
        ),
    ], note


def _rule_group(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    rules = _listed(res.inputs.get("rules")) or _listed(res.inputs.get("ruleJson"))
    p = ctx.prices(res.region)
    return [Charge(f"rules ({len(rules)})", len(rules) * ctx.months(res.region), "rule-month", p["wafRuleMonth"])], ""


def _distribution(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p, months = ctx.prices(res.region), ctx.months(res.region)
    price_class = str(res.inputs.get("priceClass") or "PriceClass_All")
    note = "" if price_class == "PriceClass_100" else f"{price_class}: viewers outside the US and Europe cost more than priced"
    return [
        Charge(
            "HTTPS requests (requestsPerMonth)",
            ctx.usage.requests_per_month * months / 1e6,
            "million",
            p["cloudfrontHttpsRequestsMillion"],
        ),
        Charge("data transfer out (cloudfrontGbPerMonth)", ctx.usage.cloudfront_gb * months, "GB", p["cloudfrontDataOutGb"]),
    ], note


def _hosted_zone(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    p = ctx.prices(res.region)
    # Route 53 bills a zone for the whole month it exists (no hourly proration).
    return [
        Charge("hosted zone", 1, "month", p["route53ZoneMonth"]),
        Charge(
            "queries (dnsQueriesPerZone)",
            ctx.usage.dns_queries * ctx.months(res.region) / 1e6,
            "million",
            p["route53QueriesMillion"],
        ),
    ], ""


def _codedeploy_platform(platform: Any) -> tuple[list[Charge], str]:
    if str(platform or "Server") in ("ECS", "Lambda"):
        return [], f"CodeDeploy is free for {platform}"
    raise NotPriced(f"compute platform {platform or 'Server'}: on-premises deployments are not priced")


def _codedeploy_app(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    return _codedeploy_platform(res.inputs.get("computePlatform"))


def _codedeploy_group(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    apps = [r for r in ctx.of_type("aws:codedeploy/application:Application") if r.inputs.get("name") == res.inputs.get("appName")]
    if not apps:
        raise NotPriced(f"its application {res.inputs.get('appName')!r} is not in the plan (compute platform unknown)")
    return _codedeploy_platform(apps[0].inputs.get("computePlatform"))


def _acm_certificate(res: PlanResource, ctx: Context) -> tuple[list[Charge], str]:
    if res.inputs.get("certificateAuthorityArn"):
        raise NotPriced("a private certificate (AWS Private CA) is not priced")
    return [], "public ACM certificates are free"


PRICERS: Mapping[str, Pricer] = {
    aws.CERTIFICATE: _acm_certificate,
    aws.NAT_GATEWAY: _nat_gateway,
    aws.EIP: _eip,
    aws.VPC_ENDPOINT: _vpc_endpoint,
    **dict.fromkeys(aws.LOAD_BALANCERS, _load_balancer),
    aws.ECS_SERVICE: _ecs_service,
    aws.ECS_CLUSTER: _ecs_cluster,
    aws.RDS_CLUSTER: _aurora_cluster,
    aws.RDS_CLUSTER_INSTANCE: _aurora_instance,
    aws.DYNAMODB_TABLE: _dynamodb_table,
    aws.KMS_KEY: _kms_key,
    "aws:kms/replicaKey:ReplicaKey": _kms_key,
    aws.SECRETS_MANAGER_SECRET: _secret,
    aws.LOG_GROUP: _log_group,
    aws.METRIC_ALARM: _metric_alarm,
    aws.ECR_REPOSITORY: _ecr_repository,
    **dict.fromkeys(aws.S3_BUCKETS, _s3_bucket),
    aws.WEB_ACL: _web_acl,
    "aws:wafv2/ruleGroup:RuleGroup": _rule_group,
    aws.DISTRIBUTION: _distribution,
    "aws:route53/zone:Zone": _hosted_zone,
    "aws:codedeploy/application:Application": _codedeploy_app,
    "aws:codedeploy/deploymentGroup:DeploymentGroup": _codedeploy_group,
}

_NETWORK_PLUMBING = "no charge (VPC plumbing)"
_S3_CONFIG = "no charge (bucket configuration; storage is priced on the bucket)"

# Kinds that cost nothing themselves, each with the reason (shown in the JSON estimate).
FREE_KINDS: Mapping[str, str] = {
    **dict.fromkeys(
        (
            aws.VPC,
            aws.SUBNET,
            aws.ROUTE_TABLE,
            aws.ROUTE_TABLE_ASSOCIATION,
            aws.ROUTE,
            "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation",
            "aws:ec2/defaultRouteTable:DefaultRouteTable",
            aws.INTERNET_GATEWAY,
            "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway",
            aws.SECURITY_GROUP,
            aws.DEFAULT_SECURITY_GROUP,
            aws.SG_RULE,
            aws.SG_INGRESS,
            aws.SG_EGRESS,
            "aws:ec2/networkAcl:NetworkAcl",
            "aws:ec2/networkAclRule:NetworkAclRule",
            "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
            "aws:ec2/eipAssociation:EipAssociation",
            "aws:ec2/vpcDhcpOptions:VpcDhcpOptions",
            "aws:ec2/vpcDhcpOptionsAssociation:VpcDhcpOptionsAssociation",
        ),
        _NETWORK_PLUMBING,
    ),
    aws.FLOW_LOG: "no charge itself; its records are priced as its log group's ingestion",
    aws.KMS_ALIAS: "no charge (an alias of a priced key)",
    **dict.fromkeys(
        (
            *aws.LISTENERS,
            *aws.LISTENER_RULES,
            *aws.TARGET_GROUPS,
            "aws:lb/targetGroupAttachment:TargetGroupAttachment",
            "aws:lb/listenerCertificate:ListenerCertificate",
        ),
        "no charge itself; priced on the load balancer (LCUs include rule evaluations)",
    ),
    aws.TASK_DEFINITION: "no charge itself; priced on the services that run it",
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": "no charge itself; the split is priced on the services",
    aws.SCALING_TARGET: "no charge (Application Auto Scaling is free)",
    aws.SCALING_POLICY: "no charge (Application Auto Scaling is free; its alarms are managed by AWS)",
    aws.ECR_LIFECYCLE_POLICY: "no charge (repository configuration)",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "no charge (repository configuration)",
    aws.RDS_SUBNET_GROUP: "no charge (database configuration)",
    aws.RDS_CLUSTER_PARAMETER_GROUP: "no charge (database configuration)",
    "aws:rds/parameterGroup:ParameterGroup": "no charge (database configuration)",
    aws.CERTIFICATE_VALIDATION: "no charge (a wait for DNS validation)",
    aws.ORIGIN_ACCESS_CONTROL: "no charge (distribution configuration)",
    "aws:cloudfront/cachePolicy:CachePolicy": "no charge (distribution configuration)",
    "aws:cloudfront/originRequestPolicy:OriginRequestPolicy": "no charge (distribution configuration)",
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": "no charge (distribution configuration)",
    aws.ROUTE53_RECORD: "no charge itself; queries to alias records for AWS resources are free, others are billed on their zone",
    **dict.fromkeys(
        (
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
            "aws:s3/bucketVersioning:BucketVersioning",
            "aws:s3/bucketVersioningV2:BucketVersioningV2",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
            "aws:s3/bucketObject:BucketObject",
            "aws:s3/bucketObjectv2:BucketObjectv2",
        ),
        _S3_CONFIG,
    ),
    aws.WEB_ACL_ASSOCIATION: "no charge (the web ACL is priced)",
    aws.WEB_ACL_LOGGING: "no charge itself; its records are priced as its log group's ingestion",
    "aws:secretsmanager/secretVersion:SecretVersion": "no charge (a version of a priced secret)",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "no charge (secret configuration)",
    aws.SECRET_ROTATION: "no charge itself (a rotation function, if any, is not priced)",
}


def price_resource(res: PlanResource, ctx: Context) -> ResourceCost | None:
    """The cost of one resource; None for what is not a cloud resource (components, providers)."""
    package = res.type.split(":", 1)[0]
    if package in LOCAL_PACKAGES:
        return None
    pricer = PRICERS.get(res.type)
    if pricer is not None:
        try:
            charges, note = pricer(res, ctx)
        except NotPriced as reason:
            return ResourceCost(res, NOT_PRICED, note=str(reason))
        return ResourceCost(res, PRICED if charges else FREE, tuple(charges), note)
    if res.type in FREE_KINDS:
        return ResourceCost(res, FREE, note=FREE_KINDS[res.type])
    if res.type.startswith("aws:iam/"):
        return ResourceCost(res, FREE, note="no charge (IAM is free)")
    return ResourceCost(res, NOT_PRICED, note="this resource type is not in the estimator: its cost is unknown, not zero")


def check_document(document: Any, source: str) -> None:
    if not isinstance(document, Mapping) or document.get("format") != 1 or not isinstance(document.get("layers"), list):
        raise PlatformError(f"{source} is not a format-1 plan document (see docs/plan-format.md): render one with `invoke plan`")


def estimate(document: Mapping[str, Any], table: PriceTable, usage: Usage) -> Estimate:
    """Price every resource of ``document``. The plan's region must be in ``table``."""
    check_document(document, "the plan")
    region = str(document.get("region"))
    table.for_region(region)  # a region without prices fails here, before anything is priced
    resources = plan_resources(document)
    ctx = Context(resources=resources, table=table, usage=usage)
    by_layer: dict[str, list[ResourceCost]] = {str(layer.get("layer")): [] for layer in document["layers"]}
    for res in resources:
        cost = price_resource(res, ctx)
        if cost is not None:
            by_layer[res.layer].append(cost)
    return Estimate(
        environment=str(document.get("environment")),
        region=region,
        protected=bool(document.get("protected")),
        prices=ctx.prices(region),
        usage=usage,
        layers=tuple(LayerCost(name, tuple(costs)) for name, costs in by_layer.items()),
    )


def layer_totals(est: Estimate) -> dict[str, float]:
    return {layer.layer: layer.monthly for layer in est.layers}


def all_resources(est: Estimate) -> Iterable[ResourceCost]:
    return (r for layer in est.layers for r in layer.resources)
