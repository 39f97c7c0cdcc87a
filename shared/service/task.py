"""The Fargate task definition of a service and its one container definition."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from ..naming import Namer
from ..tags import name_tag
from . import component_type
from .timing import STOP_TIMEOUT_SECONDS

CONTAINER_NAME = "api"
# The module minus its docstring (which explains it to readers of this repository, not of the task).
PLACEHOLDER_SOURCE = (Path(__file__).resolve().parent / "placeholder_app.py").read_text().split('"""', 2)[2].lstrip()
# The placeholder runs as "nobody": it needs no privilege (service ports are 1024 and above) and
# writes no file, so neither the read-only root nor the root-owned scratch volume below stops it.
PLACEHOLDER_USER = "65534:65534"

# Writable scratch space on a read-only root filesystem (task-local storage, gone with the task).
# Fargate creates such a volume owned by root with mode 0755: writable for an image that runs as
# root, or for one whose Dockerfile declares `VOLUME /tmp` on a directory its user owns (Fargate
# then copies that directory, ownership included, into the volume). Nothing else can write there.
SCRATCH_MOUNTS = {"tmp": "/tmp"}
# ECS Exec's agent writes its state and logs under these paths. AWS documents ECS Exec as not
# supported with a read-only root filesystem; the known workaround (aws/containers-roadmap#1359)
# is to give the agent writable volumes exactly here. The agent runs as root whatever the
# container's user, so root-owned volumes suit it.
EXEC_AGENT_MOUNTS = {"ssm-agent-state": "/var/lib/amazon", "ssm-agent-logs": "/var/log/amazon"}


@dataclass(frozen=True)
class ContainerSpec:
    """Everything the container definition depends on, as plain values."""

    image: str
    port: int
    region: str
    log_group: str
    environment: Mapping[str, str]
    secrets: Mapping[str, str]  # environment variable -> Secrets Manager valueFrom
    placeholder: bool
    readonly_root_filesystem: bool
    mounts: Mapping[str, str] = field(default_factory=dict)  # volume name -> container path
    name: str = CONTAINER_NAME
    # Seconds between SIGTERM and SIGKILL (see timing.py: longer than the load balancer's drain).
    stop_timeout: int = STOP_TIMEOUT_SECONDS


def mounts(readonly_root_filesystem: bool, enable_execute_command: bool) -> dict[str, str]:
    """Task volumes (name -> container path) the container needs to write where it must."""
    if not readonly_root_filesystem:
        return {}
    return {**SCRATCH_MOUNTS, **(EXEC_AGENT_MOUNTS if enable_execute_command else {})}


def container_definitions(spec: ContainerSpec) -> str:
    environment = dict(spec.environment)
    container: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "essential": True,
        "portMappings": [
            {"name": "http", "containerPort": spec.port, "hostPort": spec.port, "protocol": "tcp", "appProtocol": "http"}
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": spec.log_group,
                "awslogs-region": spec.region,
                "awslogs-stream-prefix": spec.name,
                # A slow log API must not block the application's writes to stdout.
                "mode": "non-blocking",
                "max-buffer-size": "25m",
            },
        },
        "readonlyRootFilesystem": spec.readonly_root_filesystem,
        "privileged": False,
        # An init process reaps ECS Exec's child processes and forwards SIGTERM to the app.
        "linuxParameters": {"initProcessEnabled": True},
        "stopTimeout": spec.stop_timeout,
        "mountPoints": [{"sourceVolume": name, "containerPath": path, "readOnly": False} for name, path in spec.mounts.items()],
    }
    if spec.placeholder:
        container["command"] = ["python3", "-c", PLACEHOLDER_SOURCE]
        container["user"] = PLACEHOLDER_USER
        # DRAIN_SECONDS: how long it keeps answering after SIGTERM (placeholder_app.py).
        environment.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", DRAIN_SECONDS="10")
    container["environment"] = [{"name": k, "value": v} for k, v in sorted(environment.items())]
    container["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(spec.secrets.items())]
    return json.dumps([container], sort_keys=True)


def database_secrets(secret_arn: str) -> dict[str, str]:
    """Variable -> valueFrom for a Secrets Manager secret holding RDS credentials (JSON keys
    ``username`` and ``password``, as in an RDS-managed master user secret)."""
    return {"DB_USERNAME": f"{secret_arn}:username::", "DB_PASSWORD": f"{secret_arn}:password::"}


@dataclass(frozen=True)
class ServiceTaskArgs:
    namer: Namer
    region: str
    image: pulumi.Input[str]
    placeholder: bool
    port: pulumi.Input[int]
    cpu: int
    memory: int
    log_group_name: pulumi.Input[str]
    # Plain settings the application reads (AWS_REGION and PORT are added here).
    environment: pulumi.Input[Mapping[str, str]]
    # Variable -> Secrets Manager valueFrom, injected by ECS at start (never in the definition).
    secrets: pulumi.Input[Mapping[str, str]]
    execution_role_arn: pulumi.Input[str]
    task_role_arn: pulumi.Input[str]
    readonly_root_filesystem: bool
    enable_execute_command: bool
    # The family is mlapi-<part>-<suffix>.
    family_part: str = "api"
    container_name: str = CONTAINER_NAME
    stop_timeout: int = STOP_TIMEOUT_SECONDS


class ServiceTask(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceTaskArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "ServiceTask"), name, None, opts)
        n = args.namer
        volume_mounts = mounts(args.readonly_root_filesystem, args.enable_execute_command)

        def render(v: dict[str, Any]) -> str:
            return container_definitions(
                ContainerSpec(
                    image=v["image"],
                    port=v["port"],
                    region=args.region,
                    log_group=v["log_group"],
                    environment={**v["environment"], "AWS_REGION": args.region, "PORT": str(v["port"])},
                    secrets=v["secrets"],
                    placeholder=args.placeholder,
                    readonly_root_filesystem=args.readonly_root_filesystem,
                    mounts=volume_mounts,
                    name=args.container_name,
                    stop_timeout=args.stop_timeout,
                )
            )

        definitions = pulumi.Output.all(
            image=args.image,
            port=args.port,
            log_group=args.log_group_name,
            environment=args.environment,
            secrets=args.secrets,
        ).apply(render)

        family = n.name(args.family_part, kind="ecs")
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-definition",
            family=family,
            cpu=str(args.cpu),
            memory=str(args.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            # X86_64: the architecture every Fargate Spot platform version runs (ARM64 Spot needs
            # 1.4.0+ and an arm64 build), and most of this service runs on Spot.
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            execution_role_arn=args.execution_role_arn,
            task_role_arn=args.task_role_arn,
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=volume) for volume in volume_mounts],
            container_definitions=definitions,
            tags=name_tag(family),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.family = family
        self.register_outputs({"taskDefinitionArn": self.task_definition.arn})
