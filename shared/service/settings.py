"""Settings every service layer reads the same way (task counts, capacity, load balancer domain,
alarm topic), validated with one wording so both layers refuse bad input alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import ConfigReader
from ..errors import ConfigError, quote
from .cluster import CapacityStrategy

# TLS policies with TLS 1.3 and without TLS 1.0/1.1 (ELBSecurityPolicy-TLS13-1-2-2021-06 is AWS's
# recommended default for new listeners).
SSL_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
)

_DOMAIN = r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
_ZONE_ID = r"Z[A-Z0-9]{1,32}"
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class TaskCounts:
    desired: int
    minimum: int
    maximum: int


def read_task_counts(reader: ConfigReader, *, minimum: int, maximum: int, desired: int) -> TaskCounts:
    """``minTasks``, ``maxTasks`` and ``desiredCount``: min <= desired <= max."""
    min_tasks = reader.integer("minTasks", minimum, minimum=1, maximum=1000)
    max_tasks = reader.integer("maxTasks", maximum, minimum=1, maximum=1000)
    desired_count = reader.integer("desiredCount", desired, minimum=1, maximum=1000)
    if min_tasks > max_tasks:
        raise reader.fail("minTasks", min_tasks, f"at most maxTasks ({max_tasks})")
    if not min_tasks <= desired_count <= max_tasks:
        raise reader.fail("desiredCount", desired_count, f"from minTasks ({min_tasks}) to maxTasks ({max_tasks})")
    return TaskCounts(desired_count, min_tasks, max_tasks)


def read_capacity(reader: ConfigReader, *, base: int, weight: int, spot_weight: int) -> CapacityStrategy:
    """``fargateBase``, ``fargateWeight`` and ``fargateSpotWeight`` (not both weights 0)."""
    fargate_base = reader.integer("fargateBase", base, minimum=0, maximum=100000)
    fargate_weight = reader.integer("fargateWeight", weight, minimum=0, maximum=1000)
    fargate_spot_weight = reader.integer("fargateSpotWeight", spot_weight, minimum=0, maximum=1000)
    if fargate_weight + fargate_spot_weight == 0:
        raise ConfigError(
            f"{reader.setting('fargateWeight')} + {reader.setting('fargateSpotWeight')}",
            "0 + 0",
            "at least one capacity provider weight above 0 (ECS places no task with a strategy whose weights are all 0)",
        )
    return CapacityStrategy(fargate_base, fargate_weight, fargate_spot_weight)


def read_alb_domain(reader: ConfigReader) -> tuple[str | None, str | None]:
    """``albDomainName`` and ``hostedZoneId``: both or neither."""
    domain = reader.string("albDomainName", "", pattern=_DOMAIN, allowed="a lowercase DNS name such as api.example.com") or None
    zone = (
        reader.string("hostedZoneId", "", pattern=_ZONE_ID, allowed="a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
        or None
    )
    if (domain is None) != (zone is None):
        missing, present, value = (
            ("hostedZoneId", "albDomainName", domain) if zone is None else ("albDomainName", "hostedZoneId", zone)
        )
        raise reader.fail(
            present,
            value,
            f"set together with {missing}: the certificate is validated, and the domain pointed at the load balancer, in that Route 53 zone",
        )
    return domain, zone


def read_alarm_topic(reader: ConfigReader, region: str) -> str | None:
    """``alarmTopicArn``: an SNS topic in the environment's region, or nothing."""
    topic = reader.string("alarmTopicArn", "") or None
    if topic is not None:
        arn = _SNS_ARN.fullmatch(topic)
        if not arn or arn["region"] != region:
            raise reader.fail(
                "alarmTopicArn",
                topic,
                f"the ARN of an SNS topic in this environment's region ({quote(region)}); alarms can notify only topics in their own region",
            )
    return topic


def read_percent(reader: ConfigReader, key: str, default: int) -> int:
    """A utilization percentage (a scaling target or an alarm threshold): 1 to 100."""
    return reader.integer(key, default, minimum=1, maximum=100)
