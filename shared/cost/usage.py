"""Usage assumptions behind an estimate: what the plan cannot know (traffic, volumes, uptime).

Every assumption has a default (printed with each estimate) and can be changed in a YAML file
(``invoke cost --usage FILE``), nested or with dotted keys::

    hoursPerMonth: 10          # an ephemeral PR environment lives hours, not a month
    requestsPerMonth: 50000
    aurora:
      averageAcus: 1.5

Volumes are per month of the environment running; every charge, hourly or by volume, is scaled
by ``hoursPerMonth`` / 730 (except the Route 53 zone fee, which AWS does not prorate).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, PlatformError


@dataclass(frozen=True)
class Assumption:
    key: str  # the YAML key, dotted for nested groups
    field: str  # the Usage attribute
    default: float
    minimum: float
    maximum: float
    description: str


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption("hoursPerMonth", "hours_per_month", 730, 0, 744, "hours the environment runs in the month (730: always on)"),
    Assumption(
        "requestsPerMonth",
        "requests_per_month",
        1_000_000,
        0,
        1e12,
        "API requests, seen by CloudFront, each WAF ACL and each load balancer",
    ),
    Assumption("cloudfrontGbPerMonth", "cloudfront_gb", 5, 0, 1e7, "GB CloudFront sends to viewers"),
    Assumption("natGbPerMonth", "nat_gb", 10, 0, 1e7, "GB through the NAT gateways in total (split evenly between them)"),
    Assumption("interfaceEndpointGbPerMonth", "endpoint_gb", 1, 0, 1e7, "GB through each interface VPC endpoint"),
    Assumption("loadBalancerLcus", "lcus", 0.5, 0, 1e5, "average capacity units each load balancer bills per hour"),
    Assumption("extraFargateTasks", "extra_tasks", 0, 0, 1e4, "average tasks each service runs above its minimum (scale-out)"),
    Assumption(
        "aurora.averageAcus",
        "aurora_acus",
        0.5,
        0,
        256,
        "average ACUs per instance while active (billed within the floor and maxCapacity)",
    ),
    Assumption(
        "aurora.activeShare",
        "aurora_active_share",
        0.25,
        0,
        1,
        "share of the hours an auto-pausing (minCapacity 0) instance is awake",
    ),
    Assumption("aurora.storageGb", "aurora_storage_gb", 10, 0, 131072, "GB stored per cluster"),
    Assumption(
        "aurora.ioMillionsPerMonth", "aurora_io_millions", 2, 0, 1e7, "million I/O requests per cluster (Aurora Standard)"
    ),
    Assumption(
        "dynamodb.readsMillionsPerMonth", "dynamodb_reads_millions", 1, 0, 1e7, "million read request units per on-demand table"
    ),
    Assumption(
        "dynamodb.writesMillionsPerMonth",
        "dynamodb_writes_millions",
        0.5,
        0,
        1e7,
        "million write request units per on-demand table",
    ),
    Assumption(
        "dynamodb.storageGb", "dynamodb_storage_gb", 1, 0, 1e7, "GB stored per table (also what point-in-time recovery backs up)"
    ),
    Assumption(
        "logs.ingestGbPerGroup",
        "logs_ingest_gb",
        0.5,
        0,
        1e7,
        "GB ingested per log group (Container Insights' performance log counts as one)",
    ),
    Assumption(
        "containerInsights.metricsPerCluster",
        "insights_cluster_metrics",
        8,
        0,
        1e4,
        "custom metrics Container Insights emits per cluster",
    ),
    Assumption(
        "containerInsights.metricsPerService",
        "insights_service_metrics",
        12,
        0,
        1e4,
        "custom metrics Container Insights emits per service",
    ),
    Assumption("kmsRequestsPerKey", "kms_requests", 10_000, 0, 1e12, "KMS API requests per key"),
    Assumption("secretApiCallsPerSecret", "secret_calls", 10_000, 0, 1e12, "Secrets Manager API calls per secret"),
    Assumption("ecrStorageGbPerRepository", "ecr_gb", 1, 0, 1e6, "GB of images kept per ECR repository"),
    Assumption("s3StorageGbPerBucket", "s3_gb", 0.1, 0, 1e9, "GB stored per S3 bucket"),
    Assumption(
        "dnsQueriesPerZone", "dns_queries", 1_000_000, 0, 1e13, "Route 53 standard queries per hosted zone the plan creates"
    ),
)

BY_KEY: Mapping[str, Assumption] = {a.key: a for a in ASSUMPTIONS}


@dataclass(frozen=True)
class Usage:
    """The assumptions one estimate uses; ``source`` says where they came from."""

    hours_per_month: float = 730
    requests_per_month: float = 1_000_000
    cloudfront_gb: float = 5
    nat_gb: float = 10
    endpoint_gb: float = 1
    lcus: float = 0.5
    extra_tasks: float = 0
    aurora_acus: float = 0.5
    aurora_active_share: float = 0.25
    aurora_storage_gb: float = 10
    aurora_io_millions: float = 2
    dynamodb_reads_millions: float = 1
    dynamodb_writes_millions: float = 0.5
    dynamodb_storage_gb: float = 1
    logs_ingest_gb: float = 0.5
    insights_cluster_metrics: float = 8
    insights_service_metrics: float = 12
    kms_requests: float = 10_000
    secret_calls: float = 10_000
    ecr_gb: float = 1
    s3_gb: float = 0.1
    dns_queries: float = 1_000_000
    source: str = "defaults"

    def share(self, hours_in_month: float) -> float:
        """The part of a full month the environment runs: every monthly charge is scaled by it."""
        return self.hours_per_month / hours_in_month

    def as_dict(self) -> dict[str, float]:
        """Every assumption under its YAML key (what the estimate prints and writes)."""
        return {a.key: getattr(self, a.field) for a in ASSUMPTIONS}

    def changed(self) -> set[str]:
        return {a.key for a in ASSUMPTIONS if getattr(self, a.field) != a.default}


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def parse_usage(data: Any, source: str) -> Usage:
    """Usage from a parsed YAML document; every bad key or value is a ConfigError naming ``source``."""
    if data is None:
        return Usage(source=source)
    if not isinstance(data, Mapping):
        raise ConfigError(source, data, "a YAML mapping of assumption keys to numbers (see docs/cost.md)")
    values: dict[str, float] = {}
    for key, value in _flatten(data).items():
        assumption = BY_KEY.get(str(key))
        if assumption is None:
            raise ConfigError(f"{source}: {key}", value, f"one of the usage keys {', '.join(BY_KEY)}")
        allowed = f"a number from {assumption.minimum:g} to {assumption.maximum:g} ({assumption.description})"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: {key}", value, allowed)
        if not assumption.minimum <= value <= assumption.maximum:
            raise ConfigError(f"{source}: {key}", value, allowed)
        values[assumption.field] = float(value)
    return dataclasses.replace(Usage(), source=source, **values)


def load_usage(path: Path | None) -> Usage:
    """The assumptions in ``path`` over the defaults (no path: the defaults)."""
    if path is None:
        return Usage()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PlatformError(f"cannot read the usage file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "(not YAML)", f"a YAML mapping of assumption keys to numbers: {exc}") from None
    return parse_usage(data, str(path))
