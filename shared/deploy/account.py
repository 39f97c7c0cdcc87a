"""Account preconditions that a first deploy in a fresh account trips over, checked in pre-flight.

The mock runtime cannot see these: they are properties of the AWS account and region, not of the
program. Every check here only reads (IAM, Service Quotas, EC2, ECS, RDS describe calls); the one
thing that writes, :func:`ensure_service_linked_role`, runs only from ``invoke account-setup``.
Nothing here is per environment: ``down-all`` of one environment must never delete something
every other environment of the account relies on, so the service-linked role is never declared in
a stack.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import APP

ECS_SERVICE_LINKED_ROLE = "AWSServiceRoleForECS"
ECS_SERVICE_PRINCIPAL = "ecs.amazonaws.com"
# The data layer runs Aurora PostgreSQL Serverless v2 (instance class db.serverless).
AURORA_ENGINE = "aurora-postgresql"
SERVERLESS_CLASS = "db.serverless"
# One NAT gateway in one AZ, or one per AZ (natGatewayPerAz) across the network layer's three AZs.
NETWORK_AZS = 3
NAT_COUNTED_STATES = ("pending", "available", "deleting")


@dataclass(frozen=True)
class Quota:
    key: str
    service: str
    code: str
    title: str
    # AWS's default for a new account, used only when the Service Quotas API cannot be read.
    default: float


VPCS = Quota("vpcs", "vpc", "L-F678F1CE", "VPCs per Region", 5)
INTERNET_GATEWAYS = Quota("internet_gateways", "vpc", "L-A4707A72", "Internet gateways per Region", 5)
NAT_GATEWAYS_PER_AZ = Quota("nat_gateways_per_az", "vpc", "L-FE5A380F", "NAT gateways per Availability Zone", 5)
ELASTIC_IPS = Quota("elastic_ips", "ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", 5)
FARGATE_ON_DEMAND_VCPU = Quota("fargate_on_demand_vcpu", "fargate", "L-3032A538", "Fargate On-Demand vCPU resource count", 6)
FARGATE_SPOT_VCPU = Quota("fargate_spot_vcpu", "fargate", "L-36FBB829", "Fargate Spot vCPU resource count", 6)
QUOTAS = (VPCS, INTERNET_GATEWAYS, NAT_GATEWAYS_PER_AZ, ELASTIC_IPS, FARGATE_ON_DEMAND_VCPU, FARGATE_SPOT_VCPU)

ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class Need:
    """What the environment about to be deployed adds to the account's usage."""

    vpcs: int = 0
    internet_gateways: int = 0
    elastic_ips: int = 0
    # At most one new NAT gateway lands in any one AZ, whether there is one or one per AZ.
    nat_gateways_per_az: int = 0
    fargate_on_demand_vcpu: float = 0
    fargate_spot_vcpu: float = 0

    def of(self, quota: Quota) -> float:
        return float(getattr(self, quota.key))

    @property
    def any(self) -> bool:
        return any(self.of(q) for q in QUOTAS)


def fargate_split(desired: int, base: int, weight: int, spot_weight: int) -> tuple[int, int]:
    """(on-demand, spot) tasks of a FARGATE/FARGATE_SPOT strategy, rounded up on both sides: the
    quota check must not pass an environment that ECS's own rounding would push over."""
    on_base = min(desired, base)
    rest = desired - on_base
    total = weight + spot_weight
    if rest == 0 or total == 0:
        return on_base, 0
    return on_base + math.ceil(rest * weight / total), math.ceil(rest * spot_weight / total)


def need_for(settings: Iterable[Any]) -> Need:
    """The quota need of loaded layer settings: the network layer (VPC, gateway, NAT, EIPs) and
    every layer that runs a Fargate service (``cpu`` and ``desired_count``; optional
    ``fargate_base``/``fargate_weight``/``fargate_spot_weight``, else all on demand)."""
    vpcs = igws = eips = nat_per_az = 0
    on_demand = spot = 0.0
    for item in settings:
        if hasattr(item, "nat_gateway_per_az"):
            nats = NETWORK_AZS if item.nat_gateway_per_az else 1
            vpcs, igws, eips, nat_per_az = vpcs + 1, igws + 1, eips + nats, max(nat_per_az, 1)
        if hasattr(item, "cpu") and hasattr(item, "desired_count"):
            od_tasks, spot_tasks = fargate_split(
                int(item.desired_count),
                int(getattr(item, "fargate_base", item.desired_count)),
                int(getattr(item, "fargate_weight", 1)),
                int(getattr(item, "fargate_spot_weight", 0)),
            )
            vcpu = int(item.cpu) / 1024
            on_demand += od_tasks * vcpu
            spot += spot_tasks * vcpu
    return Need(vpcs, igws, eips, nat_per_az, on_demand, spot)


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


# -- the ECS service-linked role ---------------------------------------------------------------------


def service_linked_role_problem(iam: Any, account: str | None) -> str | None:
    """Why the first cluster would fail without ``AWSServiceRoleForECS``, or None when it exists."""
    from botocore.exceptions import ClientError

    try:
        iam.get_role(RoleName=ECS_SERVICE_LINKED_ROLE)
    except ClientError as exc:
        if _error_code(exc) != "NoSuchEntity":
            return (
                f"Could not check for the ECS service-linked role {ECS_SERVICE_LINKED_ROLE} ({_error_code(exc)}); the deploy "
                "role needs iam:GetRole on it. Allow that, or confirm the role exists with "
                f"`aws iam get-role --role-name {ECS_SERVICE_LINKED_ROLE}`."
            )
        return (
            f"The ECS service-linked role {ECS_SERVICE_LINKED_ROLE} does not exist in account {account or '(this account)'}: "
            "the account has never used ECS. Creating the first cluster makes it asynchronously, and the capacity-provider "
            "call right after fails with 'Unable to assume the service linked role'. Create it once for the account (it is "
            "account-wide, so no stack owns it and no down-all deletes it): `invoke account-setup`, or "
            f"`aws iam create-service-linked-role --aws-service-name {ECS_SERVICE_PRINCIPAL}`."
        )
    return None


def ensure_service_linked_role(iam: Any) -> str:
    """Create ``AWSServiceRoleForECS`` unless it exists; returns what was done."""
    if service_linked_role_problem(iam, None) is None:
        return f"{ECS_SERVICE_LINKED_ROLE} already exists: nothing to do."
    iam.create_service_linked_role(AWSServiceName=ECS_SERVICE_PRINCIPAL)
    return f"Created the ECS service-linked role {ECS_SERVICE_LINKED_ROLE} (account-wide; no stack owns it)."


# -- quotas against usage --------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaValue:
    value: float
    source: str  # "applied", "AWS default" or "assumed default (<why>)"


def quota_value(quotas: Any, quota: Quota) -> QuotaValue:
    """The account's applied quota, else AWS's default for it, else the documented default."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return QuotaValue(
            float(quotas.get_service_quota(ServiceCode=quota.service, QuotaCode=quota.code)["Quota"]["Value"]), "applied"
        )
    except ClientError as exc:
        why = _error_code(exc)
    except BotoCoreError as exc:
        why = type(exc).__name__
    if why == "NoSuchResourceException":
        # An account that never changed a quota has no applied value for it: AWS's default holds.
        try:
            answer = quotas.get_aws_default_service_quota(ServiceCode=quota.service, QuotaCode=quota.code)
            return QuotaValue(float(answer["Quota"]["Value"]), "AWS default")
        except (ClientError, BotoCoreError, NotImplementedError) as exc:
            why = _error_code(exc)
    return QuotaValue(quota.default, f"assumed default ({why})")


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    if client.can_paginate(operation):
        return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]
    return list(getattr(client, operation)(**kwargs).get(key, []))


def _owned(tags: Iterable[Mapping[str, str]] | None, env: str) -> bool:
    found = {t.get("Key"): t.get("Value") for t in tags or []}
    return found.get("Environment") == env and found.get("Application") == APP


def usage(clients: ClientFactory, env: str) -> tuple[dict[str, float], dict[str, float]]:
    """(account usage, of which this environment's own) per quota key.

    This environment's own resources (tagged Environment=<env>, Application=mlapi) are counted
    apart: a re-run of up-all for an existing environment creates no new VPC."""
    ec2 = clients("ec2")
    used: dict[str, float] = {}
    own: dict[str, float] = {}
    for quota, operation, key, tag_key in (
        (VPCS, "describe_vpcs", "Vpcs", "Tags"),
        (INTERNET_GATEWAYS, "describe_internet_gateways", "InternetGateways", "Tags"),
        (ELASTIC_IPS, "describe_addresses", "Addresses", "Tags"),
    ):
        items = _pages(ec2, operation, key)
        used[quota.key] = len(items)
        own[quota.key] = sum(1 for item in items if _owned(item.get(tag_key), env))
    # AWS counts a NAT gateway against the per-AZ quota while pending, available and deleting (for
    # minutes after a down-all), whatever its connectivity type.
    nats = [n for n in _pages(ec2, "describe_nat_gateways", "NatGateways") if n.get("State") in NAT_COUNTED_STATES]
    subnets = {n["SubnetId"] for n in nats if n.get("SubnetId")}
    zone_of = (
        {s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=sorted(subnets))["Subnets"]}
        if subnets
        else {}
    )
    per_zone = Counter(zone_of.get(n.get("SubnetId", ""), "?") for n in nats)
    own_per_zone = Counter(zone_of.get(n.get("SubnetId", ""), "?") for n in nats if _owned(n.get("Tags"), env))
    busiest = max(per_zone, key=lambda z: per_zone[z] - own_per_zone[z], default=None)
    used[NAT_GATEWAYS_PER_AZ.key] = per_zone[busiest] if busiest else 0
    own[NAT_GATEWAYS_PER_AZ.key] = own_per_zone[busiest] if busiest else 0
    used[FARGATE_ON_DEMAND_VCPU.key], used[FARGATE_SPOT_VCPU.key], own_od, own_spot = _fargate_usage(clients("ecs"), env)
    own[FARGATE_ON_DEMAND_VCPU.key], own[FARGATE_SPOT_VCPU.key] = own_od, own_spot
    return used, own


def _fargate_usage(ecs: Any, env: str) -> tuple[float, float, float, float]:
    """vCPUs of running Fargate tasks, on demand and Spot, in the account and in this environment."""
    on_demand = spot = own_od = own_spot = 0.0
    for cluster_arn in _pages(ecs, "list_clusters", "clusterArns"):
        clusters = ecs.describe_clusters(clusters=[cluster_arn], include=["TAGS"]).get("clusters", [])
        tags = [{"Key": t.get("key"), "Value": t.get("value")} for c in clusters for t in c.get("tags", [])]
        mine = _owned(tags, env)
        arns = _pages(ecs, "list_tasks", "taskArns", cluster=cluster_arn, desiredStatus="RUNNING")
        for start in range(0, len(arns), 100):  # describe_tasks takes at most 100 tasks
            for task in ecs.describe_tasks(cluster=cluster_arn, tasks=arns[start : start + 100]).get("tasks", []):
                if task.get("launchType") != "FARGATE" and not str(task.get("capacityProviderName", "")).startswith("FARGATE"):
                    continue
                vcpu = int(task.get("cpu") or 0) / 1024
                is_spot = task.get("capacityProviderName") == "FARGATE_SPOT"
                if is_spot:
                    spot += vcpu
                    own_spot += vcpu if mine else 0
                else:
                    on_demand += vcpu
                    own_od += vcpu if mine else 0
    return on_demand, spot, own_od, own_spot


def _amount(value: float) -> str:
    return f"{value:g}"


def quota_problems(clients: ClientFactory, env: str, region: str, need: Need) -> tuple[list[str], list[str]]:
    """(problems, facts): every quota the environment would exceed, with the command that raises it."""
    if not need.any:
        return [], []
    used, own = usage(clients, env)
    service_quotas = clients("service-quotas")
    problems: list[str] = []
    facts: list[str] = []
    shown: list[str] = []
    for quota in QUOTAS:
        wanted = need.of(quota)
        if not wanted:
            continue
        limit = quota_value(service_quotas, quota)
        # What already belongs to this environment is reused, not created again.
        extra = max(0.0, wanted - own.get(quota.key, 0))
        in_use = used.get(quota.key, 0)
        total = in_use + extra
        shown.append(f"{quota.title} {_amount(in_use)}+{_amount(extra)}/{_amount(limit.value)}")
        if limit.source.startswith("assumed"):
            if in_use > limit.value:
                # A limit the account already exceeds is not its limit: the quota was raised, and
                # refusing on the guess would block every deploy of an account that uses more.
                facts.append(
                    f"quota {quota.title}: could not be read ({limit.source}); the account already uses "
                    f"{_amount(in_use)}, more than AWS's default {_amount(quota.default)}, so its quota was raised: not checked"
                )
                continue
            facts.append(f"quota {quota.title}: could not be read, {limit.source}: {_amount(quota.default)}")
        if total > limit.value:
            desired = math.ceil(max(total, limit.value * 2))
            problems.append(
                f"Quota {quota.title} ({quota.service} {quota.code}) in {region}: the account uses {_amount(in_use)} "
                f"of {_amount(limit.value)} ({limit.source}) and this environment needs {_amount(extra)} more. Free some "
                "(`invoke down-all` an environment you no longer need) or ask for more: "
                f"`aws service-quotas request-service-quota-increase --service-code {quota.service} --quota-code {quota.code} "
                f"--desired-value {desired} --region {region}` (often approved within minutes, sometimes a day)."
                + (
                    " The account's value could not be read, so AWS's default was assumed: allow the deploy role "
                    "servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota to check the real one."
                    if limit.source.startswith("assumed")
                    else ""
                )
            )
    facts.insert(0, "quotas (used+new/limit): " + "; ".join(shown))
    return problems, facts


# -- the Aurora engine version ---------------------------------------------------------------------


def engine_version_problem(
    rds: Any, version: str, region: str, max_capacity: float | None = None
) -> tuple[str | None, str | None]:
    """(problem, fact): whether Aurora PostgreSQL ``version`` (a major such as ``16`` or an exact
    ``16.6``) is offered in the region and, resolved to the minor AWS would create, runs
    Serverless v2 there, up to ``max_capacity`` ACUs (older versions stop at 128, newer at 256)."""
    major_only = "." not in version
    kwargs: dict[str, Any] = {"Engine": AURORA_ENGINE, "EngineVersion": version}
    if major_only:
        # A major alone resolves to the region's default minor for it: the one the cluster gets.
        kwargs["DefaultOnly"] = True
    versions = [
        v
        for v in _pages(rds, "describe_db_engine_versions", "DBEngineVersions", **kwargs)
        if v.get("Status", "available") == "available" and (major_only or v.get("EngineVersion") == version)
    ]
    if not versions:
        return (
            f"data: engineVersion {version!r}: Aurora PostgreSQL {version} is not offered in {region} "
            f"(`aws rds describe-db-engine-versions --engine {AURORA_ENGINE} --region {region} --query "
            "'DBEngineVersions[].EngineVersion'` lists what is). Set engineVersion to an offered major (such as 16) "
            "in environments/<env>.yaml or stacks/data/Pulumi.<env>.yaml.",
            None,
        )
    resolved = str(versions[0]["EngineVersion"])
    limit = (versions[0].get("ServerlessV2FeaturesSupport") or {}).get("MaxCapacity")
    if max_capacity is not None and isinstance(limit, (int, float)) and max_capacity > limit:
        return (
            f"data: maxCapacity is {max_capacity:g} ACUs, but Aurora PostgreSQL {resolved} (engineVersion {version!r}) "
            f"scales Serverless v2 to at most {limit:g} ACUs in {region}. Lower maxCapacity to {limit:g}, or use a "
            "newer engine version (the newest allow 256).",
            None,
        )
    options = _pages(
        rds,
        "describe_orderable_db_instance_options",
        "OrderableDBInstanceOptions",
        Engine=AURORA_ENGINE,
        EngineVersion=resolved,
        DBInstanceClass=SERVERLESS_CLASS,
    )
    if not options:
        return (
            f"data: engineVersion {version!r} resolves to Aurora PostgreSQL {resolved} in {region}, which does not offer "
            f"Serverless v2 ({SERVERLESS_CLASS}) there. Pin a later minor that does (`aws rds describe-orderable-db-instance-options "
            f"--engine {AURORA_ENGINE} --db-instance-class {SERVERLESS_CLASS} --region {region} --query "
            "'OrderableDBInstanceOptions[].EngineVersion'`).",
            None,
        )
    return None, f"Aurora PostgreSQL {version} -> {resolved} in {region} (Serverless v2 offered)"


# -- all of it ---------------------------------------------------------------------------------------


def check(
    clients: ClientFactory,
    *,
    env: str,
    region: str,
    account: str | None,
    settings: Mapping[str, Any],
    service_layers: Iterable[str],
) -> tuple[list[str], list[str]]:
    """(problems, facts) for the layers about to be deployed, whose loaded settings are ``settings``."""
    from botocore.exceptions import BotoCoreError, ClientError

    problems: list[str] = []
    facts: list[str] = []
    runs_ecs = [name for name in service_layers if name in settings]
    # Resources carry the environment suffix as their Environment tag; it is the stack name unless
    # environmentSuffix says otherwise, and the loaded settings know which.
    suffix = next((str(item.env.suffix) for item in settings.values() if hasattr(getattr(item, "env", None), "suffix")), env)
    steps: list[tuple[str, Callable[[], None]]] = []

    def role() -> None:
        problem = service_linked_role_problem(clients("iam"), account)
        if problem:
            problems.append(problem)
        else:
            facts.append(f"ECS service-linked role {ECS_SERVICE_LINKED_ROLE}: present")

    def quotas() -> None:
        found, notes = quota_problems(clients, suffix, region, need_for(settings.values()))
        problems.extend(found)
        facts.extend(notes)

    def engine() -> None:
        data = settings.get("data")
        version = getattr(data, "engine_version", None)
        if version:
            problem, fact = engine_version_problem(clients("rds"), str(version), region, getattr(data, "max_capacity", None))
            problems.extend([problem] if problem else [])
            facts.extend([fact] if fact else [])

    if runs_ecs:
        steps.append(("the ECS service-linked role", role))
    steps += [("quotas", quotas), ("the Aurora engine version", engine)]
    for what, step in steps:
        try:
            step()
        except (ClientError, BotoCoreError) as exc:
            problems.append(
                f"Could not check {what} ({_error_code(exc)}: {exc}). The deploy role needs read access to IAM, Service "
                "Quotas, EC2, ECS and RDS describe calls; allow them, or fix the network, and run the task again."
            )
    return problems, facts
