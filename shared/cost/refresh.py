"""Refresh one region of the price table from the AWS Price List API (``invoke cost-prices``).

The API (``pricing`` in us-east-1, ``get_products``) returns one JSON document per product: its
attributes (``usagetype``, ``regionCode``, ...) and its on-demand terms (price dimensions with a
``pricePerUnit`` in USD). Each price key below names the service, the usage type it is billed
under (the region prefix, ``USE1-`` and the like, varies) and the factor from the API's unit to
the table's (the API prices KMS requests one by one, the table per 10,000).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PlatformError
from .prices import REGIONAL_KEYS, PriceTable, validate

# Usage types start with a location code (EU-, USE2-, none in us-east-1) or, for some services
# (KMS), the region name.
_PREFIX = r"^(?:[A-Z]{2,4}[0-9]?-|[a-z]{2}(?:-gov)?-[a-z]+-[0-9]-)?"


@dataclass(frozen=True)
class Source:
    service: str  # the Price List service code
    usage_type: str  # a regular expression over the product's usagetype
    factor: float = 1.0  # table unit / API unit
    attributes: tuple[tuple[str, str], ...] = ()  # further product attributes that must match


SOURCES: Mapping[str, Source] = {
    "natGatewayHour": Source("AmazonEC2", _PREFIX + r"NatGateway-Hours$"),
    "natGatewayGb": Source("AmazonEC2", _PREFIX + r"NatGateway-Bytes$"),
    "albHour": Source("AWSELB", _PREFIX + r"LoadBalancerUsage$", attributes=(("productFamily", "Load Balancer-Application"),)),
    "albLcuHour": Source("AWSELB", _PREFIX + r"LCUUsage$", attributes=(("productFamily", "Load Balancer-Application"),)),
    "nlbHour": Source("AWSELB", _PREFIX + r"LoadBalancerUsage$", attributes=(("productFamily", "Load Balancer-Network"),)),
    "nlbLcuHour": Source("AWSELB", _PREFIX + r"LCUUsage$", attributes=(("productFamily", "Load Balancer-Network"),)),
    "publicIpv4Hour": Source("AmazonVPC", _PREFIX + r"PublicIPv4:InUseAddress$"),
    "fargateVcpuHour": Source("AmazonECS", _PREFIX + r"Fargate-vCPU-Hours:perCPU$"),
    "fargateGbHour": Source("AmazonECS", _PREFIX + r"Fargate-GB-Hours$"),
    "fargateSpotVcpuHour": Source("AmazonECS", _PREFIX + r"SpotUsage-Fargate-vCPU-Hours:perCPU$"),
    "fargateSpotGbHour": Source("AmazonECS", _PREFIX + r"SpotUsage-Fargate-GB-Hours$"),
    "fargateArmVcpuHour": Source("AmazonECS", _PREFIX + r"Fargate-ARM-vCPU-Hours:perCPU$"),
    "fargateArmGbHour": Source("AmazonECS", _PREFIX + r"Fargate-ARM-GB-Hours$"),
    "fargateStorageGbHour": Source("AmazonECS", _PREFIX + r"Fargate-EphemeralStorage-GB-Hours$"),
    "auroraAcuHour": Source("AmazonRDS", _PREFIX + r"Aurora:ServerlessV2Usage$"),
    "auroraIoOptimizedAcuHour": Source("AmazonRDS", _PREFIX + r"Aurora:ServerlessV2IOOptimizedUsage$"),
    "auroraStorageGbMonth": Source("AmazonRDS", _PREFIX + r"Aurora:StorageUsage$"),
    "auroraIoOptimizedStorageGbMonth": Source("AmazonRDS", _PREFIX + r"Aurora:IO-OptimizedStorageUsage$"),
    "auroraIoMillion": Source("AmazonRDS", _PREFIX + r"Aurora:StorageIOUsage$", factor=1e6),
    "dynamodbWriteMillion": Source("AmazonDynamoDB", _PREFIX + r"WriteRequestUnits$", factor=1e6),
    "dynamodbReadMillion": Source("AmazonDynamoDB", _PREFIX + r"ReadRequestUnits$", factor=1e6),
    "dynamodbStorageGbMonth": Source("AmazonDynamoDB", _PREFIX + r"TimedStorage-ByteHrs$"),
    "dynamodbPitrGbMonth": Source("AmazonDynamoDB", _PREFIX + r"TimedPITRStorage-ByteHrs$"),
    "dynamodbRcuHour": Source("AmazonDynamoDB", _PREFIX + r"ReadCapacityUnit-Hrs$"),
    "dynamodbWcuHour": Source("AmazonDynamoDB", _PREFIX + r"WriteCapacityUnit-Hrs$"),
    "interfaceEndpointHour": Source("AmazonVPC", _PREFIX + r"VpcEndpoint-Hours$"),
    "interfaceEndpointGb": Source("AmazonVPC", _PREFIX + r"VpcEndpoint-Bytes$"),
    "kmsKeyMonth": Source("awskms", _PREFIX + r"KMS-Keys$"),
    "kmsRequests10k": Source("awskms", _PREFIX + r"KMS-Requests$", factor=1e4),
    "secretMonth": Source("AWSSecretsManager", _PREFIX + r"AWSSecretsManager-Secrets$"),
    "secretApiCalls10k": Source("AWSSecretsManager", _PREFIX + r"AWSSecretsManager-APIRequest$", factor=1e4),
    "logsIngestGb": Source("AmazonCloudWatch", _PREFIX + r"DataProcessing-Bytes$"),
    "logsStorageGbMonth": Source("AmazonCloudWatch", _PREFIX + r"TimedStorage-ByteHrs$"),
    "alarmStandardMonth": Source("AmazonCloudWatch", _PREFIX + r"CW:AlarmMonitorUsage$"),
    "alarmHighResolutionMonth": Source("AmazonCloudWatch", _PREFIX + r"CW:HighResAlarmMonitorUsage$"),
    "customMetricMonth": Source("AmazonCloudWatch", _PREFIX + r"CW:MetricMonitorUsage$"),
    "ecrStorageGbMonth": Source("AmazonECR", _PREFIX + r"TimedStorage-ByteHrs$"),
    "s3StorageGbMonth": Source("AmazonS3", _PREFIX + r"TimedStorage-ByteHrs$", attributes=(("volumeType", "Standard"),)),
    "wafAclMonth": Source("awswaf", _PREFIX + r"WebACL$"),
    "wafRuleMonth": Source("awswaf", _PREFIX + r"Rule$"),
    "wafRequestsMillion": Source("awswaf", _PREFIX + r"Request$", factor=1e6),
}


def _first_tier_usd(product: Mapping[str, Any]) -> float | None:
    """The on-demand price of the first tier (beginRange 0), in USD per the API's unit."""
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            if str(dimension.get("beginRange", "0")) in ("0", "0.0"):
                usd = (dimension.get("pricePerUnit") or {}).get("USD")
                if usd is not None:
                    return float(usd)
    return None


def _products(client: Any, service: str, region: str) -> list[dict[str, Any]]:
    """Every product of ``service`` in ``region``, following NextToken."""
    products: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        request: dict[str, Any] = {
            "ServiceCode": service,
            "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
            "FormatVersion": "aws_v1",
            "MaxResults": 100,
        }
        if token:
            request["NextToken"] = token
        page = client.get_products(**request)
        products += [json.loads(item) if isinstance(item, str) else item for item in page.get("PriceList", [])]
        token = page.get("NextToken")
        if not token:
            return products


@dataclass(frozen=True)
class Refresh:
    region: str
    prices: dict[str, float]
    missing: tuple[str, ...]  # keys the API gave no price for (kept from the table)


def fetch_region(client: Any, region: str) -> Refresh:
    """The prices of ``region`` from the Price List API client ``client``."""
    found: dict[str, float] = {}
    by_service: dict[str, list[str]] = {}
    for key, source in SOURCES.items():
        by_service.setdefault(source.service, []).append(key)
    for service, keys in by_service.items():
        products = _products(client, service, region)
        for key in keys:
            source = SOURCES[key]
            pattern = re.compile(source.usage_type)
            for product in products:
                attrs = (product.get("product") or {}).get("attributes") or {}
                if not pattern.search(str(attrs.get("usagetype", ""))):
                    continue
                if any(str(attrs.get(name)) != value for name, value in source.attributes):
                    continue
                usd = _first_tier_usd(product)
                if usd is not None:
                    found[key] = round(usd * source.factor, 10)
                    break
    return Refresh(region, found, tuple(k for k in REGIONAL_KEYS if k not in found))


def apply(table: PriceTable, refresh: Refresh, *, today: Callable[[], datetime.date] = datetime.date.today) -> dict[str, Any]:
    """The table document with ``refresh`` applied: a covered region keeps the prices the API
    did not give; a new region must get every price."""
    document: dict[str, Any] = json.loads(json.dumps(table.document))
    regions = document["regions"]
    if refresh.region not in regions and refresh.missing:
        raise PlatformError(
            f"the Price List API gave no price for {', '.join(refresh.missing)} in {refresh.region}; "
            "a region enters the table only with every price (nothing was written)"
        )
    regions[refresh.region] = {**regions.get(refresh.region, {}), **refresh.prices}
    kept = f"; kept from the previous table: {', '.join(refresh.missing)}" if refresh.missing else ""
    document.setdefault("refreshed", {})[refresh.region] = {
        "asOf": today().isoformat(),
        "source": f"AWS Price List API (pricing get_products, on-demand, first tier){kept}",
    }
    validate(document, table.path)
    return document


def pricing_client() -> Any:
    """A Price List API client; the API is served from us-east-1 whatever the region priced."""
    import boto3

    session = boto3.Session()
    if session.get_credentials() is None:
        raise PlatformError(
            "the AWS Price List API needs AWS credentials (any identity allowed pricing:GetProducts): "
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; the shipped table stays as it is"
        )
    return session.client("pricing", region_name="us-east-1")
