"""The compute layer's settings, read once and validated before any resource is declared."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import ConfigReader
from shared.service.alarms import UTILIZATION_ALARM_PERCENT
from shared.service.image import DEFAULT_IMAGE, ImageChoice, read_image
from shared.service.load_balancer import HEALTH_CHECK_PATH
from shared.service.settings import (
    SSL_POLICIES,
    read_alarm_topic,
    read_alb_domain,
    read_capacity,
    read_percent,
    read_task_counts,
)
from shared.service.sizes import FARGATE_SIZES, fargate_memory_options, read_task_size
from shared.settings import EnvironmentSettings

LAYER = "compute"

API_PATHS = ("/api/v1/*", "/api/v2/*")

# Re-exported for readers of this layer's settings (tests, docs): the values live in shared.service.
__all__ = [
    "API_PATHS",
    "DEFAULT_IMAGE",
    "FARGATE_SIZES",
    "HEALTH_CHECK_PATH",
    "LAYER",
    "SSL_POLICIES",
    "ComputeSettings",
    "fargate_memory_options",
]


@dataclass(frozen=True)
class ComputeSettings:
    env: EnvironmentSettings
    container_image: str
    image_tag: str | None
    cpu: int
    memory: int
    desired_count: int
    min_tasks: int
    max_tasks: int
    fargate_base: int
    fargate_weight: int
    fargate_spot_weight: int
    target_requests_per_task: int
    cpu_target: int
    memory_target: int
    scale_out_cooldown: int
    scale_in_cooldown: int
    health_check_grace_period: int
    health_check_interval: int
    log_retention_days: int
    ecr_keep_images: int
    enable_execute_command: bool
    readonly_root_filesystem: bool
    alb_domain_name: str | None
    hosted_zone_id: str | None
    alb_ssl_policy: str
    alarm_topic_arn: str | None

    @property
    def https(self) -> bool:
        """The load balancer has a certificate (a domain and its hosted zone are configured)."""
        return self.alb_domain_name is not None

    @property
    def uses_placeholder_server(self) -> bool:
        """The default image runs the built-in placeholder server (any other image runs its own)."""
        return ImageChoice(self.container_image, self.image_tag).uses_placeholder_server

    @classmethod
    def load(cls, reader: ConfigReader | None = None, env: EnvironmentSettings | None = None) -> ComputeSettings:
        env = env or EnvironmentSettings.load(LAYER, reader)
        reader = reader or ConfigReader(env.project)

        image = read_image(reader)
        cpu, memory = read_task_size(reader, 1024, 2048)
        counts = read_task_counts(reader, minimum=2, maximum=10, desired=2)
        strategy = read_capacity(reader, base=2, weight=3, spot_weight=7)
        domain, zone = read_alb_domain(reader)
        topic = read_alarm_topic(reader, env.region)

        return cls(
            env=env,
            container_image=image.container_image,
            image_tag=image.image_tag,
            cpu=cpu,
            memory=memory,
            desired_count=counts.desired,
            min_tasks=counts.minimum,
            max_tasks=counts.maximum,
            fargate_base=strategy.fargate_base,
            fargate_weight=strategy.fargate_weight,
            fargate_spot_weight=strategy.fargate_spot_weight,
            target_requests_per_task=reader.integer("targetRequestsPerTask", 1000, minimum=1, maximum=1000000),
            cpu_target=_below_alarm(reader, "cpuTargetPercent", 70),
            memory_target=_below_alarm(reader, "memoryTargetPercent", 70),
            scale_out_cooldown=reader.integer("scaleOutCooldownSeconds", 60, minimum=0, maximum=3600),
            scale_in_cooldown=reader.integer("scaleInCooldownSeconds", 300, minimum=0, maximum=3600),
            health_check_grace_period=reader.integer("healthCheckGracePeriodSeconds", 60, minimum=0, maximum=3600),
            health_check_interval=reader.integer("healthCheckIntervalSeconds", 30, minimum=10, maximum=300),
            log_retention_days=reader.log_retention("logRetentionDays", 30),
            ecr_keep_images=reader.integer("ecrKeepImages", 0, minimum=0, maximum=1000),
            enable_execute_command=reader.boolean("enableExecuteCommand", True),
            readonly_root_filesystem=reader.boolean("readonlyRootFilesystem", True),
            alb_domain_name=domain,
            hosted_zone_id=zone,
            alb_ssl_policy=reader.choice("albSslPolicy", SSL_POLICIES[0], SSL_POLICIES),
            alarm_topic_arn=topic,
        )


def _below_alarm(reader: ConfigReader, key: str, default: int) -> int:
    """A scaling target under compute's alarm on it (the alarms' default threshold): at or above
    it, the alarm would fire whenever scaling works."""
    value = read_percent(reader, key, default)
    if value >= UTILIZATION_ALARM_PERCENT:
        raise reader.fail(
            key, value, f"1 to {UTILIZATION_ALARM_PERCENT - 1} (the alarm on it fires at {UTILIZATION_ALARM_PERCENT} %)"
        )
    return value
