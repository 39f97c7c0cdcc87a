"""``invoke release``: ship a new image to a blue/green (CodeDeploy) layer and follow it to the end.

Steps, all through boto3 against the deployed environment (nothing goes through Pulumi):

1. read the layer's outputs from the flat outputs file (``invoke outputs``) and check, before any
   AWS call, that the layer is blue/green and the image tag is one ECR accepts;
2. check the tag exists in the layer's repository (``ecr:DescribeImages``): CodeDeploy would
   otherwise start, fail to pull, and roll back minutes later;
3. register a new revision of the task family, a copy of the layer's task definition as Pulumi
   declares it (the outputs' ``taskDefinitionArn``; refused when a later ``pulumi up`` replaced it)
   with only the image of the application container changed: what ``pulumi up`` changed in the
   definition (cpu, memory, environment, secrets, roles) reaches production with the release;
4. start a CodeDeploy deployment (an ECS AppSpec naming that revision, container and port, and the
   tasks' declared network, capacity provider strategy and platform version) and
   poll it, printing status changes and lifecycle events, until it succeeds, fails, stops or the
   timeout passes.

Pulumi's state still records the revision it registered; the layer's program must ignore changes
to the service's task definition (and load balancers, which CodeDeploy swaps) or the next
``pulumi up`` reverts the release.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, PlatformError

# Docker's tag grammar, which ECR enforces: a word character, then up to 127 of [A-Za-z0-9_.-].
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
BLUE_GREEN_OUTPUTS = (
    "clusterName",
    "serviceName",
    "ecrRepositoryUrl",
    "taskDefinitionArn",
    "taskFamily",
    "containerName",
    "containerPort",
    "codedeployApplicationName",
    "codedeployDeploymentGroupName",
)
# The fields of DescribeTaskDefinition that RegisterTaskDefinition accepts back; everything else
# (ARN, revision, status, registeredAt, compatibilities, ...) is AWS's bookkeeping.
_REGISTER_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
)
# The placeholder server (shared/service/placeholder_app.py) names itself so; what the task
# definition adds for it alone (shared/service/task.py). Not imported: a release loads no Pulumi.
PLACEHOLDER_MARK = 'server_version = "mlapi-placeholder"'
PLACEHOLDER_ENVIRONMENT = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "DRAIN_SECONDS")
SUCCEEDED = "Succeeded"
FAILED_STATUSES = ("Failed", "Stopped")


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _clock() -> float:
    return time.monotonic()


def clients(session: Any) -> dict[str, Any]:
    """The boto3 clients a release uses, from ``session`` (tests replace this to script CodeDeploy)."""
    return {name: session.client(name) for name in ("ecr", "ecs", "codedeploy")}


class ReleaseFailed(Exception):
    """The deployment ran and did not succeed (or did not finish in time): exit code 1."""


@dataclass(frozen=True)
class ReleaseTarget:
    """What a blue/green layer's outputs say about where an image goes."""

    layer: str
    cluster_name: str
    service_name: str
    repository_url: str
    task_definition_arn: str
    task_family: str
    container_name: str
    container_port: int
    application: str
    deployment_group: str
    # What the service's network, capacity and platform are declared as (outputs added later:
    # an outputs file without them leaves the service's current ones to CodeDeploy).
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    capacity_provider_strategy: tuple[tuple[str, int, int], ...] = ()
    platform_version: str = ""

    @property
    def repository_name(self) -> str:
        # <account>.dkr.ecr.<region>.amazonaws.com/<name>: the name may itself contain slashes.
        return self.repository_url.split("/", 1)[1] if "/" in self.repository_url else self.repository_url

    @classmethod
    def from_outputs(cls, layer: str, outputs: Mapping[str, Any], *, source: str) -> ReleaseTarget:
        if not outputs:
            raise PlatformError(
                f"{source} has no outputs of layer {layer}: deploy it (`invoke up --layer {layer} --env <env>`) "
                "and write the file again with `invoke outputs --env <env>`"
            )
        if "codedeployApplicationName" not in outputs:
            raise PlatformError(
                f"layer {layer} has no blue/green deployment (no codedeployApplicationName output): `invoke release` "
                "ships images to blue/green layers only (payments); a rolling layer takes a new image with `invoke up`"
            )
        missing = [name for name in BLUE_GREEN_OUTPUTS if outputs.get(name) in (None, "")]
        if missing:
            raise PlatformError(
                f"{source} lacks output(s) {', '.join(f'{layer}.{n}' for n in missing)}: the stack predates them or "
                f"the file is stale; run `invoke up --layer {layer} --env <env>` then `invoke outputs --env <env>`"
            )
        try:
            port = int(outputs["containerPort"])
        except (TypeError, ValueError):
            raise PlatformError(f"{source}: {layer}.containerPort is {outputs['containerPort']!r}, not a port number") from None
        return cls(
            layer=layer,
            cluster_name=str(outputs["clusterName"]),
            service_name=str(outputs["serviceName"]),
            repository_url=str(outputs["ecrRepositoryUrl"]),
            task_definition_arn=str(outputs["taskDefinitionArn"]),
            task_family=str(outputs["taskFamily"]),
            container_name=str(outputs["containerName"]),
            container_port=port,
            application=str(outputs["codedeployApplicationName"]),
            deployment_group=str(outputs["codedeployDeploymentGroupName"]),
            subnet_ids=_strings(outputs.get("serviceSubnetIds"), f"{source}: {layer}.serviceSubnetIds"),
            security_group_ids=_strings(outputs.get("serviceSecurityGroupIds"), f"{source}: {layer}.serviceSecurityGroupIds"),
            capacity_provider_strategy=_strategy(
                outputs.get("capacityProviderStrategy"), f"{source}: {layer}.capacityProviderStrategy"
            ),
            platform_version=str(outputs.get("platformVersion") or ""),
        )


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PlatformError(f"{what} is {value!r}, not a list of IDs: write the file again with `invoke outputs --env <env>`")
    return tuple(value)


def _strategy(value: object, what: str) -> tuple[tuple[str, int, int], ...]:
    if value in (None, ""):
        return ()
    try:
        assert isinstance(value, list)
        return tuple((str(item["capacityProvider"]), int(item["base"]), int(item["weight"])) for item in value)
    except (AssertionError, KeyError, TypeError, ValueError):
        raise PlatformError(
            f"{what} is {value!r}, not a list of {{capacityProvider, base, weight}}: write the file again with "
            "`invoke outputs --env <env>`"
        ) from None


def validate_tag(tag: object) -> str:
    if not isinstance(tag, str) or not IMAGE_TAG.match(tag):
        raise ConfigError(
            "--image-tag",
            tag,
            "an image tag ECR accepts: 1 to 128 characters of letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-' (for example 1.4.2 or git-3f9c2ab)",
        )
    return tag


def appspec(task_definition_arn: str, target: ReleaseTarget) -> str:
    """The ECS AppSpec (version 0.0) CodeDeploy needs, as the JSON string content it accepts.

    Under CODE_DEPLOY the service ignores changes to its network configuration, capacity provider
    strategy and platform version (UpdateService refuses them): the replacement task set takes
    them from the AppSpec, so the release carries what the layer declares when the outputs say."""
    properties: dict[str, Any] = {
        "TaskDefinition": task_definition_arn,
        "LoadBalancerInfo": {"ContainerName": target.container_name, "ContainerPort": target.container_port},
    }
    if target.subnet_ids and target.security_group_ids:
        properties["NetworkConfiguration"] = {
            "AwsvpcConfiguration": {
                "Subnets": list(target.subnet_ids),
                "SecurityGroups": list(target.security_group_ids),
                "AssignPublicIp": "DISABLED",
            }
        }
    if target.capacity_provider_strategy:
        properties["CapacityProviderStrategy"] = [
            {"CapacityProvider": provider, "Base": base, "Weight": weight}
            for provider, base, weight in target.capacity_provider_strategy
        ]
    if target.platform_version:
        properties["PlatformVersion"] = target.platform_version
    return json.dumps({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": properties}}]})


@dataclass(frozen=True)
class Outcome:
    deployment_id: str
    task_definition_arn: str
    image: str
    status: str


class Release:
    """One release of ``image_tag`` to ``target``; clients are boto3 clients (or test doubles)."""

    def __init__(
        self,
        target: ReleaseTarget,
        image_tag: str,
        *,
        ecr: Any,
        ecs: Any,
        codedeploy: Any,
        out: Callable[[str], None] = print,
        timeout: float = 3600.0,
        poll_seconds: float = 15.0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.target = target
        self.tag = validate_tag(image_tag)
        self.ecr, self.ecs, self.codedeploy = ecr, ecs, codedeploy
        self.out = out
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self.sleep = sleep or _sleep
        self.clock = clock or _clock

    @property
    def image(self) -> str:
        return f"{self.target.repository_url}:{self.tag}"

    def run(self) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError

        arn = deployment_id = ""
        try:
            self.check_image()
            base = self.current_definition()
            arn = self.register(base)
            deployment_id = self.start(arn)
            status = self.follow(deployment_id)
        except ClientError as error:
            info = error.response.get("Error", {})
            raise self._aws_failure(
                f"{error.operation_name}: {info.get('Code')}: {info.get('Message')}", arn, deployment_id
            ) from None
        except BotoCoreError as error:
            raise self._aws_failure(f"AWS call failed: {error}", arn, deployment_id) from None
        return Outcome(deployment_id=deployment_id, task_definition_arn=arn, image=self.image, status=status)

    def _aws_failure(self, reason: str, arn: str, deployment_id: str) -> Exception:
        """An AWS refusal (access denied, a deployment already in progress, throttling) as the
        error its stage calls for: before the deployment starts nothing serves differently (exit 2,
        fix and retry); after, the deployment goes on without us (exit 1, with its id)."""
        if deployment_id:
            return ReleaseFailed(
                f"lost track of deployment {deployment_id} ({reason}); it goes on without us: follow it with "
                f"`aws deploy get-deployment --deployment-id {deployment_id}`"
            )
        registered = f" (task definition {arn} was registered but is not in use)" if arn else ""
        return PlatformError(f"AWS refused the release before any deployment started{registered}: {reason}")

    # -- before anything changes ---------------------------------------------------------------

    def check_image(self) -> None:
        try:
            self.ecr.describe_images(repositoryName=self.target.repository_name, imageIds=[{"imageTag": self.tag}])
        except self.ecr.exceptions.ImageNotFoundException:
            raise PlatformError(
                f"image tag {self.tag!r} is not in repository {self.target.repository_name}: push {self.image} first "
                "(docker push), then release it"
            ) from None
        except self.ecr.exceptions.RepositoryNotFoundException:
            raise PlatformError(
                f"repository {self.target.repository_name} does not exist: the outputs file is stale or from another "
                "account; write it again with `invoke outputs --env <env>`"
            ) from None

    def current_definition(self) -> dict[str, Any]:
        """The layer's task definition as Pulumi declares it (the outputs' ``taskDefinitionArn``).

        Not the revision production runs: under CODE_DEPLOY the service ignores task definition
        changes, so a `pulumi up` that changed cpu, memory, environment, secrets or roles only
        registers a revision; the next release is what rolls it out. Copying the running revision
        would drop those changes for good."""
        source = self.target.task_definition_arn
        definition: dict[str, Any] = self.ecs.describe_task_definition(taskDefinition=source, include=["TAGS"])
        task = definition["taskDefinition"]
        if task.get("family") != self.target.task_family:
            raise PlatformError(
                f"{source} is not a revision of family {self.target.task_family}: "
                "the outputs file is stale; write it again with `invoke outputs --env <env>`"
            )
        if task.get("status") == "INACTIVE":
            # Pulumi deregisters the revision it replaces: the file predates the last `pulumi up`.
            raise PlatformError(
                f"task definition {source} named by the outputs file is no longer active: a later `pulumi up` "
                "registered another revision. Write the file again with `invoke outputs --env <env>`, then release"
            )
        running = self.running_definition()
        if running and running != source:
            self.out(f"Production runs {running}; the release builds on {source} (the layer's as Pulumi declares it)")
        names = [c.get("name") for c in task.get("containerDefinitions", [])]
        if self.target.container_name not in names:
            raise PlatformError(
                f"task definition {source} has no container {self.target.container_name!r} (it has {', '.join(map(str, names))})"
            )
        return definition

    def running_definition(self) -> str:
        """The revision of the PRIMARY task set (what serves production), or "" if none is found."""
        services = self.ecs.describe_services(cluster=self.target.cluster_name, services=[self.target.service_name])
        running = [s for s in services.get("services", []) if s.get("status") == "ACTIVE"]
        primary = [ts for s in running for ts in s.get("taskSets", []) if ts.get("status") == "PRIMARY"]
        if primary:
            return str(primary[0]["taskDefinition"])
        return str(running[0].get("taskDefinition") or "") if running else ""

    # -- changes -------------------------------------------------------------------------------

    def register(self, definition: Mapping[str, Any]) -> str:
        task = definition["taskDefinition"]
        request = {key: task[key] for key in _REGISTER_FIELDS if key in task}
        request["containerDefinitions"] = [
            {**self._own_command(container), "image": self.image}
            if container.get("name") == self.target.container_name
            else container
            for container in task["containerDefinitions"]
        ]
        if definition.get("tags"):
            request["tags"] = definition["tags"]
        registered = self.ecs.register_task_definition(**request)["taskDefinition"]
        arn = str(registered["taskDefinitionArn"])
        self.out(f"Registered {arn} ({self.target.container_name} -> {self.image})")
        return arn

    def _own_command(self, container: Mapping[str, Any]) -> dict[str, Any]:
        """The container without the placeholder server's command, user and environment when the
        layer still declares the default image: the released image runs its own entrypoint (with
        them it would run the placeholder's code, as nobody, or fail to start)."""
        command = container.get("command") or []
        if not (len(command) == 3 and command[:2] == ["python3", "-c"] and PLACEHOLDER_MARK in str(command[2])):
            return dict(container)
        self.out(
            f"The layer declares the placeholder image: {self.image} runs its own entrypoint and user (the placeholder's "
            "command, user and environment are left out). Set containerImage/imageTag to make it the declared image."
        )
        own = {k: v for k, v in container.items() if k not in ("command", "user")}
        own["environment"] = [e for e in container.get("environment", []) if e.get("name") not in PLACEHOLDER_ENVIRONMENT]
        return own

    def start(self, task_definition_arn: str) -> str:
        response = self.codedeploy.create_deployment(
            applicationName=self.target.application,
            deploymentGroupName=self.target.deployment_group,
            description=f"invoke release {self.image}",
            revision={
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": appspec(task_definition_arn, self.target)},
            },
        )
        deployment_id = str(response["deploymentId"])
        self.out(f"Started CodeDeploy deployment {deployment_id} ({self.target.application}/{self.target.deployment_group})")
        return deployment_id

    # -- following -----------------------------------------------------------------------------

    def follow(self, deployment_id: str) -> str:
        """Poll until the deployment ends; raise ReleaseFailed unless it succeeded."""
        deadline = self.clock() + self.timeout
        last_status = ""
        seen_events: dict[str, str] = {}
        while True:
            info = self.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            status = str(info.get("status", ""))
            if status != last_status:
                self.out(f"  status: {status}")
                last_status = status
            for name, event_status in self.lifecycle_events(deployment_id):
                if seen_events.get(name) != event_status:
                    seen_events[name] = event_status
                    self.out(f"    {name}: {event_status}")
            if status == SUCCEEDED:
                self.out(f"Deployment {deployment_id} succeeded: {self.target.service_name} runs {self.image}")
                return status
            if status in FAILED_STATUSES:
                raise ReleaseFailed(self.failure_text(deployment_id, info))
            if self.clock() >= deadline:
                raise ReleaseFailed(
                    f"deployment {deployment_id} is still {status or 'starting'} after {self.timeout:g} s; it goes on "
                    f"without us: follow it with `aws deploy get-deployment --deployment-id {deployment_id}` "
                    "(or stop it with `aws deploy stop-deployment --auto-rollback-enabled`)"
                )
            self.sleep(self.poll_seconds)

    def lifecycle_events(self, deployment_id: str) -> list[tuple[str, str]]:
        """(event, status) of the deployment's ECS target, in CodeDeploy's order."""
        target_ids = self.codedeploy.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
        if not target_ids:
            return []
        targets = self.codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=target_ids)
        events: list[tuple[str, str]] = []
        for target in targets.get("deploymentTargets", []):
            for event in (target.get("ecsTarget") or {}).get("lifecycleEvents", []):
                events.append((str(event.get("lifecycleEventName")), str(event.get("status"))))
        return events

    def failure_text(self, deployment_id: str, info: Mapping[str, Any]) -> str:
        error = info.get("errorInformation") or {}
        reason = f"{error.get('code', 'no error code')}: {error.get('message', 'CodeDeploy gave no message')}"
        rollback = info.get("rollbackInfo") or {}
        if rollback.get("rollbackDeploymentId"):
            rolled = f"rolled back by deployment {rollback['rollbackDeploymentId']}: the service is back on its previous task definition"
            if rollback.get("rollbackMessage"):
                rolled += f" ({rollback['rollbackMessage']})"
        elif rollback.get("rollbackMessage"):
            rolled = f"rollback: {rollback['rollbackMessage']}"
        else:
            rolled = (
                "not rolled back: check which task set serves production traffic "
                f"(aws ecs describe-services --cluster {self.target.cluster_name} --services {self.target.service_name})"
            )
        return f"deployment {deployment_id} {str(info.get('status', '')).lower()}: {reason}; {rolled}"
