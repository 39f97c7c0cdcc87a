"""The payments layer's settings, read once and validated before any resource is declared."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.config import ConfigReader
from shared.service.cluster import CapacityStrategy
from shared.service.image import ImageChoice, read_image
from shared.service.load_balancer import testing_port
from shared.service.settings import (
    SSL_POLICIES,
    read_alarm_topic,
    read_alb_domain,
    read_capacity,
    read_percent,
    read_task_counts,
)
from shared.service.sizes import read_task_size
from shared.settings import PLATFORM_TAG_KEYS, EnvironmentSettings

LAYER = "payments"

# CodeDeploy's predefined ECS configurations: how production traffic moves to the new version.
DEPLOYMENT_CONFIGS = (
    "CodeDeployDefault.ECSCanary10Percent5Minutes",
    "CodeDeployDefault.ECSCanary10Percent15Minutes",
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
    "CodeDeployDefault.ECSAllAtOnce",
)
# CodeDeploy keeps the old (blue) tasks at most two days after a successful shift.
MAX_TERMINATION_WAIT_MINUTES = 2880

# Layer tags on every payments resource (a PCI DSS scope marker and the backup policy selector).
DEFAULT_COMPLIANCE_TAGS: Mapping[str, str] = {"compliance": "pci-dss", "backup": "required"}
_TAG_KEY = r"(?!aws:)[\w .:/=+\-@]{1,128}"
_TAG_VALUE = r"[\w .:/=+\-@]{1,256}"


@dataclass(frozen=True)
class PaymentsSettings:
    env: EnvironmentSettings
    image: ImageChoice
    cpu: int
    memory: int
    desired_count: int
    min_tasks: int
    max_tasks: int
    strategy: CapacityStrategy
    cpu_target: int
    memory_target: int
    cpu_alarm: int
    memory_alarm: int
    scale_out_cooldown: int
    scale_in_cooldown: int
    health_check_grace_period: int
    health_check_interval: int
    log_retention_days: int
    ecr_keep_images: int
    enable_execute_command: bool
    alb_domain_name: str | None
    hosted_zone_id: str | None
    alb_ssl_policy: str
    alarm_topic_arn: str | None
    deployment_config: str
    termination_wait_minutes: int
    waf_rate_limit: int
    compliance_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def https(self) -> bool:
        return self.alb_domain_name is not None

    @property
    def test_listener_port(self) -> int:
        """8443 with HTTPS, 8080 without (the network layer's paymentsTestListenerPort must match)."""
        return testing_port(self.https)

    @classmethod
    def load(cls, reader: ConfigReader | None = None, env: EnvironmentSettings | None = None) -> PaymentsSettings:
        env = env or EnvironmentSettings.load(LAYER, reader)
        reader = reader or ConfigReader(env.project)

        image = read_image(reader)
        # 2 vCPU / 4 GiB: the seed's size for the payment processor.
        cpu, memory = read_task_size(reader, 2048, 4096)
        counts = read_task_counts(reader, minimum=3, maximum=10, desired=3)
        # Two tasks always on on-demand Fargate (a Spot reclaim never takes the floor away), the
        # rest 4:1 on Spot.
        strategy = read_capacity(reader, base=2, weight=1, spot_weight=4)
        cpu_target = read_percent(reader, "cpuTargetPercent", 70)
        memory_target = read_percent(reader, "memoryTargetPercent", 80)
        cpu_alarm = read_percent(reader, "cpuAlarmPercent", 90)
        memory_alarm = read_percent(reader, "memoryAlarmPercent", 90)
        # An alarm at or below its scaling target would sit in ALARM whenever scaling works as meant.
        for alarm_key, alarm, target_key, target in (
            ("cpuAlarmPercent", cpu_alarm, "cpuTargetPercent", cpu_target),
            ("memoryAlarmPercent", memory_alarm, "memoryTargetPercent", memory_target),
        ):
            if alarm <= target:
                raise reader.fail(alarm_key, alarm, f"above {target_key} ({target}): autoscaling holds usage near the target")
        domain, zone = read_alb_domain(reader)

        return cls(
            env=env,
            image=image,
            cpu=cpu,
            memory=memory,
            desired_count=counts.desired,
            min_tasks=counts.minimum,
            max_tasks=counts.maximum,
            strategy=strategy,
            cpu_target=cpu_target,
            memory_target=memory_target,
            cpu_alarm=cpu_alarm,
            memory_alarm=memory_alarm,
            scale_out_cooldown=reader.integer("scaleOutCooldownSeconds", 60, minimum=0, maximum=3600),
            scale_in_cooldown=reader.integer("scaleInCooldownSeconds", 300, minimum=0, maximum=3600),
            health_check_grace_period=reader.integer("healthCheckGracePeriodSeconds", 60, minimum=0, maximum=3600),
            health_check_interval=reader.integer("healthCheckIntervalSeconds", 30, minimum=10, maximum=300),
            log_retention_days=reader.log_retention("logRetentionDays", 30),
            ecr_keep_images=reader.integer("ecrKeepImages", 0, minimum=0, maximum=1000),
            enable_execute_command=reader.boolean("enableExecuteCommand", True),
            alb_domain_name=domain,
            hosted_zone_id=zone,
            alb_ssl_policy=reader.choice("albSslPolicy", SSL_POLICIES[0], SSL_POLICIES),
            alarm_topic_arn=read_alarm_topic(reader, env.region),
            deployment_config=reader.choice("deploymentConfig", DEPLOYMENT_CONFIGS[0], DEPLOYMENT_CONFIGS),
            termination_wait_minutes=reader.integer(
                "terminateBlueAfterMinutes", 5, minimum=0, maximum=MAX_TERMINATION_WAIT_MINUTES
            ),
            waf_rate_limit=reader.integer("wafRateLimit", 2000, minimum=100, maximum=2000000000),
            compliance_tags=_compliance_tags(reader),
        )


def _compliance_tags(reader: ConfigReader) -> dict[str, str]:
    """`complianceTags`: the layer's own tags (default compliance=pci-dss, backup=required)."""
    allowed = (
        "a map of tag key to value (keys 1-128 and values 1-256 letters, digits, spaces and _ . : / = + - @, "
        f"keys not starting with aws: and none of the platform's own: {', '.join(PLATFORM_TAG_KEYS)})"
    )
    raw = reader.raw("complianceTags", dict(DEFAULT_COMPLIANCE_TAGS))
    if raw is None:
        return dict(DEFAULT_COMPLIANCE_TAGS)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise reader.fail("complianceTags", raw, allowed) from None
    if not isinstance(raw, dict) or not raw:
        raise reader.fail("complianceTags", raw, allowed)
    tags: dict[str, str] = {}
    for key, value in raw.items():
        if not re.fullmatch(_TAG_KEY, str(key)) or key in PLATFORM_TAG_KEYS:
            raise reader.fail("complianceTags", key, allowed)
        if isinstance(value, (dict, list)) or not re.fullmatch(_TAG_VALUE, str(value)):
            raise reader.fail(f"complianceTags.{key}", value, allowed)
        tags[str(key)] = str(value)
    return tags
