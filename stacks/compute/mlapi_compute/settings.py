"""The compute layer's settings, read once and validated before any resource is declared."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.config import ConfigReader
from shared.errors import ConfigError
from shared.settings import EnvironmentSettings

LAYER = "compute"

# The default container: a small official Python image mirrored on ECR Public (reachable through
# the NAT gateway on 443, no Docker Hub rate limits, no credentials) running the stdlib server in
# placeholder_app.py, which answers the load balancer's health check. A pinned tag, never latest.
DEFAULT_IMAGE = "public.ecr.aws/docker/library/python:3.12-alpine"

HEALTH_CHECK_PATH = "/health"
API_PATHS = ("/api/v1/*", "/api/v2/*")

# Fargate's task sizes (Linux): CPU units -> (first, last, step) of the memory it accepts, in MiB.
FARGATE_SIZES: dict[int, tuple[int, int, int]] = {
    256: (512, 2048, 512),  # 512, 1024, 2048 (1536 is not offered; checked below)
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}

# TLS policies with TLS 1.3 and without TLS 1.0/1.1 (ELBSecurityPolicy-TLS13-1-2-2021-06 is AWS's
# recommended default for new listeners).
SSL_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
)

_IMAGE = re.compile(
    r"(?:[a-z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+|/)[a-z0-9]+)*"
    r"(?P<tag>:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?P<digest>@sha256:[a-f0-9]{64})?"
)
_IMAGE_RULE = (
    "a pinned image reference such as registry/repository:tag (not 'latest') or repository@sha256:<digest>; "
    "a moving tag would change the running code without a deployment"
)
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DOMAIN = r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
_ZONE_ID = r"Z[A-Z0-9]{1,32}"
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_-]{1,256}")


def fargate_memory_options(cpu: int) -> list[int]:
    first, last, step = FARGATE_SIZES[cpu]
    options = list(range(first, last + 1, step))
    return [m for m in options if not (cpu == 256 and m == 1536)]


def _describe_memory(cpu: int) -> str:
    first, last, step = FARGATE_SIZES[cpu]
    if cpu == 256:
        return "512, 1024 or 2048"
    return f"{first} to {last} in steps of {step}"


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
        return self.image_tag is None and self.container_image == DEFAULT_IMAGE

    @classmethod
    def load(cls, reader: ConfigReader | None = None, env: EnvironmentSettings | None = None) -> ComputeSettings:
        env = env or EnvironmentSettings.load(LAYER, reader)
        reader = reader or ConfigReader(env.project)

        image = reader.string("containerImage", DEFAULT_IMAGE)
        assert image is not None
        match = _IMAGE.fullmatch(image)
        if not match or not (match["tag"] or match["digest"]) or (match["tag"] == ":latest" and not match["digest"]):
            raise reader.fail("containerImage", image, _IMAGE_RULE)
        tag = (
            reader.string(
                "imageTag", "", pattern=_TAG, allowed="an image tag: letters, digits, '_', '.', '-', at most 128 characters"
            )
            or None
        )
        if tag == "latest":
            raise reader.fail(
                "imageTag",
                tag,
                "a pinned tag pushed to this layer's repository (tags are immutable; 'latest' would be pushed only once)",
            )
        if tag is not None and image != DEFAULT_IMAGE:
            raise reader.fail(
                "imageTag",
                tag,
                f"either imageTag (an image in this layer's ECR repository) or containerImage (any image), not both; containerImage is {image!r}",
            )

        cpu = reader.integer("cpu", 1024)
        if cpu not in FARGATE_SIZES:
            raise reader.fail(
                "cpu", cpu, "one of Fargate's CPU sizes: " + ", ".join(map(str, FARGATE_SIZES)) + " (1024 = 1 vCPU)"
            )
        memory = reader.integer("memory", 2048)
        if memory not in fargate_memory_options(cpu):
            raise reader.fail("memory", memory, f"with cpu {cpu}, Fargate offers memory (MiB) {_describe_memory(cpu)}")

        min_tasks = reader.integer("minTasks", 2, minimum=1, maximum=1000)
        max_tasks = reader.integer("maxTasks", 10, minimum=1, maximum=1000)
        desired = reader.integer("desiredCount", 2, minimum=1, maximum=1000)
        if min_tasks > max_tasks:
            raise reader.fail("minTasks", min_tasks, f"at most maxTasks ({max_tasks})")
        if not min_tasks <= desired <= max_tasks:
            raise reader.fail("desiredCount", desired, f"from minTasks ({min_tasks}) to maxTasks ({max_tasks})")

        base = reader.integer("fargateBase", 2, minimum=0, maximum=100000)
        weight = reader.integer("fargateWeight", 3, minimum=0, maximum=1000)
        spot_weight = reader.integer("fargateSpotWeight", 7, minimum=0, maximum=1000)
        if weight + spot_weight == 0:
            raise ConfigError(
                f"{reader.setting('fargateWeight')} + {reader.setting('fargateSpotWeight')}",
                "0 + 0",
                "at least one capacity provider weight above 0 (ECS places no task with a strategy whose weights are all 0)",
            )

        domain = (
            reader.string("albDomainName", "", pattern=_DOMAIN, allowed="a lowercase DNS name such as api.example.com") or None
        )
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

        topic = reader.string("alarmTopicArn", "") or None
        if topic is not None:
            arn = _SNS_ARN.fullmatch(topic)
            if not arn or arn["region"] != env.region:
                raise reader.fail(
                    "alarmTopicArn",
                    topic,
                    f"the ARN of an SNS topic in this environment's region ({env.region}); alarms can notify only topics in their own region",
                )

        return cls(
            env=env,
            container_image=image,
            image_tag=tag,
            cpu=cpu,
            memory=memory,
            desired_count=desired,
            min_tasks=min_tasks,
            max_tasks=max_tasks,
            fargate_base=base,
            fargate_weight=weight,
            fargate_spot_weight=spot_weight,
            target_requests_per_task=reader.integer("targetRequestsPerTask", 1000, minimum=1, maximum=1000000),
            scale_out_cooldown=reader.integer("scaleOutCooldownSeconds", 60, minimum=0, maximum=3600),
            scale_in_cooldown=reader.integer("scaleInCooldownSeconds", 300, minimum=0, maximum=3600),
            health_check_grace_period=reader.integer("healthCheckGracePeriodSeconds", 60, minimum=0, maximum=3600),
            health_check_interval=reader.integer("healthCheckIntervalSeconds", 30, minimum=10, maximum=300),
            log_retention_days=reader.log_retention("logRetentionDays", 30),
            ecr_keep_images=reader.integer("ecrKeepImages", 10, minimum=1, maximum=1000),
            enable_execute_command=reader.boolean("enableExecuteCommand", True),
            readonly_root_filesystem=reader.boolean("readonlyRootFilesystem", True),
            alb_domain_name=domain,
            hosted_zone_id=zone,
            alb_ssl_policy=reader.choice("albSslPolicy", SSL_POLICIES[0], SSL_POLICIES),
            alarm_topic_arn=topic,
        )
