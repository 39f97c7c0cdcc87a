"""The dated price table (prices.json next to this file): AWS list prices, on-demand, USD.

Prices are data, not code: a reviewer can check each against the AWS pricing pages, and
``invoke cost-prices`` refreshes a region from the AWS Price List API without touching the
estimator. Every region in the table carries every key (checked on load), so a missing price is
an error here, never a silent zero in an estimate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, PlatformError

PRICES_FILE = Path(__file__).resolve().parent / "prices.json"

# What each regional key prices (the unit is in the name). The estimator reads only these.
REGIONAL_KEYS: Mapping[str, str] = {
    "natGatewayHour": "NAT gateway, per hour",
    "natGatewayGb": "NAT gateway data processed, per GB",
    "albHour": "Application Load Balancer, per hour",
    "albLcuHour": "Application Load Balancer capacity unit (LCU), per hour",
    "nlbHour": "Network Load Balancer, per hour",
    "nlbLcuHour": "Network Load Balancer capacity unit (NLCU), per hour",
    "publicIpv4Hour": "public IPv4 address (Elastic IP, internet-facing load balancer node), per hour",
    "fargateVcpuHour": "Fargate Linux/x86, per vCPU-hour",
    "fargateGbHour": "Fargate Linux/x86, per GB-hour of memory",
    "fargateSpotVcpuHour": "Fargate Spot Linux/x86, per vCPU-hour",
    "fargateSpotGbHour": "Fargate Spot Linux/x86, per GB-hour of memory",
    "fargateArmVcpuHour": "Fargate Linux/ARM64, per vCPU-hour",
    "fargateArmGbHour": "Fargate Linux/ARM64, per GB-hour of memory",
    "fargateStorageGbHour": "Fargate ephemeral storage above the free 20 GB, per GB-hour",
    "auroraAcuHour": "Aurora Serverless v2 (Aurora Standard), per ACU-hour",
    "auroraIoOptimizedAcuHour": "Aurora Serverless v2 (Aurora I/O-Optimized), per ACU-hour",
    "auroraStorageGbMonth": "Aurora Standard storage, per GB-month",
    "auroraIoOptimizedStorageGbMonth": "Aurora I/O-Optimized storage, per GB-month",
    "auroraIoMillion": "Aurora Standard I/O, per million requests",
    "dynamodbWriteMillion": "DynamoDB on-demand, per million write request units",
    "dynamodbReadMillion": "DynamoDB on-demand, per million read request units",
    "dynamodbStorageGbMonth": "DynamoDB Standard table storage, per GB-month",
    "dynamodbPitrGbMonth": "DynamoDB point-in-time recovery (continuous backups), per GB-month",
    "dynamodbRcuHour": "DynamoDB provisioned read capacity unit, per hour",
    "dynamodbWcuHour": "DynamoDB provisioned write capacity unit, per hour",
    "interfaceEndpointHour": "interface VPC endpoint, per endpoint network interface (AZ) per hour",
    "interfaceEndpointGb": "interface VPC endpoint data processed, per GB",
    "kmsKeyMonth": "KMS customer managed key, per month",
    "kmsRequests10k": "KMS API requests, per 10,000",
    "secretMonth": "Secrets Manager secret, per month",
    "secretApiCalls10k": "Secrets Manager API calls, per 10,000",
    "logsIngestGb": "CloudWatch Logs ingestion (standard class), per GB",
    "logsStorageGbMonth": "CloudWatch Logs archived storage, per GB-month",
    "alarmStandardMonth": "CloudWatch standard-resolution alarm, per alarm metric per month",
    "alarmHighResolutionMonth": "CloudWatch high-resolution alarm, per alarm metric per month",
    "customMetricMonth": "CloudWatch custom metric (first 10,000), per metric per month",
    "ecrStorageGbMonth": "ECR private repository storage, per GB-month",
    "s3StorageGbMonth": "S3 Standard storage (first 50 TB), per GB-month",
    "wafAclMonth": "AWS WAF web ACL, per month",
    "wafRuleMonth": "AWS WAF rule (a managed rule group counts as one), per month",
    "wafRequestsMillion": "AWS WAF requests inspected, per million",
}

GLOBAL_KEYS: Mapping[str, str] = {
    "cloudfrontDataOutGb": "CloudFront data transfer out to the internet (US/Europe, first 10 TB), per GB",
    "cloudfrontHttpsRequestsMillion": "CloudFront HTTPS requests (US/Europe), per million",
    "route53ZoneMonth": "Route 53 hosted zone (first 25), per month",
    "route53QueriesMillion": "Route 53 standard queries (first billion), per million",
}


@dataclass(frozen=True)
class Prices:
    """The prices of one region (plus the global ones), and where they come from."""

    region: str
    regional: Mapping[str, float]
    global_: Mapping[str, float]
    as_of: str
    source: str
    hours_per_month: float

    def __getitem__(self, key: str) -> float:
        if key in self.regional:
            return self.regional[key]
        return self.global_[key]


@dataclass(frozen=True)
class PriceTable:
    """The whole table as read from ``path``."""

    path: Path
    document: Mapping[str, Any]

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(self.document["regions"]))

    def for_region(self, region: str) -> Prices:
        """The prices of ``region``; a region without prices is an error naming the covered ones."""
        if region not in self.document["regions"]:
            raise ConfigError(
                "region",
                region,
                f"a region the price table {self.path.name} covers: {', '.join(self.regions)}",
                hint=f"Add it with `invoke cost-prices --region {region}` (needs AWS credentials) or price a plan of a covered region.",
            )
        refreshed = (self.document.get("refreshed") or {}).get(region, {})
        return Prices(
            region=region,
            regional=dict(self.document["regions"][region]),
            global_=dict(self.document["global"]),
            as_of=str(refreshed.get("asOf", self.document["asOf"])),
            source=str(refreshed.get("source", self.document["source"])),
            hours_per_month=float(self.document["hoursPerMonth"]),
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def validate(document: Any, path: Path) -> None:
    """Every region has every key, each a non-negative number; the table says its date and source."""
    if not isinstance(document, dict):
        raise PlatformError(f"{path}: not a price table (a JSON object with asOf, source, hoursPerMonth, global, regions)")
    for key in ("asOf", "source", "currency", "hoursPerMonth", "global", "regions"):
        if key not in document:
            raise PlatformError(f"{path}: the price table has no `{key}`")
    if document["currency"] != "USD":
        raise PlatformError(f"{path}: currency {document['currency']!r}; the estimator works in USD")
    problems: list[str] = []
    for key in GLOBAL_KEYS:
        if not _number(document["global"].get(key)):
            problems.append(f"global.{key} = {document['global'].get(key)!r}")
    for region, prices in document["regions"].items():
        for key in REGIONAL_KEYS:
            if not _number(prices.get(key)):
                problems.append(f"regions.{region}.{key} = {prices.get(key)!r}")
    if problems:
        raise PlatformError(f"{path}: missing or invalid prices (each must be a number >= 0): {'; '.join(problems)}")


def load_table(path: Path | None = None) -> PriceTable:
    """Read and check the price table (default: the one shipped next to this module)."""
    target = Path(path) if path else PRICES_FILE
    try:
        document = json.loads(target.read_text())
    except (OSError, ValueError) as exc:
        raise PlatformError(f"cannot read the price table {target}: {exc}") from None
    validate(document, target)
    return PriceTable(path=target, document=document)
