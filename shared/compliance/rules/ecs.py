"""ECS and ECR: Container Insights, container hardening, image repositories."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...aws_types import (
    ECR_LIFECYCLE_POLICY,
    ECR_REPOSITORY,
    ECS_CLUSTER,
    TASK_DEFINITION,
)
from ..model import (
    SECRET,
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    first,
    get,
    is_mapping,
    parse_json,
    text,
    truthy,
)
from ..registry import Scope, rule
from ._common import unreferenced


@rule(
    "ecs-container-insights",
    title="ECS clusters have Container Insights",
    controls=("FSBP ECS.12",),
    fix="Set settings=[{name: 'containerInsights', value: 'enabled'}] on the cluster.",
    types=(ECS_CLUSTER,),
)
def ecs_container_insights(res: Resource, env: Environment) -> Iterator[str]:
    values = [text(get(s, "value")) for s in as_list(res.get("settings")) if get(s, "name") == "containerInsights"]
    if not any(v in ("enabled", "enhanced") for v in values):
        yield "Container Insights is not enabled"


def _containers(res: Resource) -> Iterator[Any]:
    raw = res.get("containerDefinitions")
    parsed = parse_json(raw)
    if raw == SECRET:
        yield {"name": "(secret)", "__secret__": True}
        return
    for container in as_list(parsed):
        if is_mapping(container):
            yield container


def _container_name(container: Any) -> str:
    return repr(container.get("name", "?"))


@rule(
    "ecs-container-logging",
    title="Every container sends its logs somewhere",
    controls=("FSBP ECS.9",),
    fix="Give every container a logConfiguration (awslogs to the service's encrypted log group).",
    types=(TASK_DEFINITION,),
)
def ecs_container_logging(res: Resource, env: Environment) -> Iterator[str]:
    for container in _containers(res):
        if container.get("__secret__"):
            continue  # reported by ecs-no-secrets-in-environment
        if not get(container, "logConfiguration.logDriver"):
            yield f"container {_container_name(container)} has no logConfiguration"


AWS_CREDENTIAL_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "ECS_ENGINE_AUTH_DATA"}
SECRET_NAME = re.compile(
    r"passw(or)?d|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|signing[_-]?key", re.I
)
HARMLESS_SUFFIX = re.compile(
    r"[_-](arns?|names?|ids?|urls?|uri|ttl|file|path|header|region|length|seconds|enabled|kind|type)$", re.I
)
CREDENTIAL_VALUE = re.compile(
    r"\b(AKIA|ASIA)[0-9A-Z]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----|\b(ghp|gho|xox[abp]|sk_live)_?[A-Za-z0-9]{10,}"
)


@rule(
    "ecs-no-secrets-in-environment",
    title="No credentials in container environment variables",
    controls=("FSBP ECS.8",),
    fix="Pass secrets with the container's `secrets` (valueFrom: <Secrets Manager ARN>), read by the execution role; "
    "never put a secret Output into containerDefinitions.",
    types=(TASK_DEFINITION,),
)
def ecs_no_secrets_in_environment(res: Resource, env: Environment) -> Iterator[str]:
    for container in _containers(res):
        if container.get("__secret__"):
            yield "containerDefinitions is a secret value: a secret was interpolated into the task definition"
            continue
        for variable in as_list(container.get("environment")):
            name, value = text(get(variable, "name")), get(variable, "value")
            value = value if isinstance(value, str) else str(value if value is not None else "")
            if name.upper() in AWS_CREDENTIAL_NAMES:
                yield f"container {_container_name(container)} sets {name} in its environment"
            elif value == SECRET or CREDENTIAL_VALUE.search(value):
                yield f"container {_container_name(container)}: environment variable {name} holds a credential-like value"
            elif SECRET_NAME.search(name) and not HARMLESS_SUFFIX.search(name) and value and not value.startswith("arn:"):
                yield f"container {_container_name(container)}: environment variable {name} looks like a credential"


@rule(
    "ecs-readonly-root-filesystem",
    title="Containers run with a read-only root filesystem",
    controls=("FSBP ECS.5",),
    fix="Set readonlyRootFilesystem: true on every container (mount a tmpfs/volume where it must write).",
    types=(TASK_DEFINITION,),
)
def ecs_readonly_root(res: Resource, env: Environment) -> Iterator[str]:
    for container in _containers(res):
        if not container.get("__secret__") and container.get("readonlyRootFilesystem") is not True:
            yield f"container {_container_name(container)} can write to its root filesystem"


@rule(
    "ecs-not-privileged",
    title="Containers are not privileged",
    controls=("FSBP ECS.4",),
    fix="Remove privileged: true from the container definition.",
    types=(TASK_DEFINITION,),
)
def ecs_not_privileged(res: Resource, env: Environment) -> Iterator[str]:
    for container in _containers(res):
        if container.get("privileged") is True:
            yield f"container {_container_name(container)} is privileged"


@rule(
    "ecr-scan-on-push",
    title="ECR repositories scan images on push",
    controls=("FSBP ECR.1",),
    fix="Set image_scanning_configuration={scan_on_push: True} on the repository.",
    types=(ECR_REPOSITORY,),
)
def ecr_scan_on_push(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(get(first(res.get("imageScanningConfiguration")) or {}, "scanOnPush")):
        yield "scanOnPush is not true"


@rule(
    "ecr-immutable-tags",
    title="ECR image tags are immutable",
    controls=("FSBP ECR.2",),
    fix="Set image_tag_mutability='IMMUTABLE' on the repository (deploy by unique tags or digests).",
    types=(ECR_REPOSITORY,),
)
def ecr_immutable_tags(res: Resource, env: Environment) -> Iterator[str]:
    if not text(res.get("imageTagMutability")).startswith("IMMUTABLE"):
        yield f"imageTagMutability is {res.get('imageTagMutability') or 'MUTABLE (default)'}"


@rule(
    "ecr-lifecycle-policy",
    title="ECR repositories have a lifecycle policy",
    controls=("FSBP ECR.3",),
    fix="Add an aws.ecr.LifecyclePolicy(repository=repo.name, policy=...) that expires untagged and old images.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the repository.",
)
def ecr_lifecycle(view: View, env: Environment) -> Iterator[Finding]:
    yield from unreferenced(
        view,
        ECR_REPOSITORY,
        by=ECR_LIFECYCLE_POLICY,
        through="repository",
        message="no lifecycle policy: images accumulate forever",
    )
