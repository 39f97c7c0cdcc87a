"""`invoke release`: a new task definition revision and a CodeDeploy deployment, against moto.

moto keeps ECR, ECS and CodeDeploy state for real (images, revisions, deployments and their
AppSpec); its deployments never leave "Created" and it has no deployment targets, so a thin
wrapper scripts the statuses and lifecycle events CodeDeploy would report over time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import share_botocore_loaders
from invoke import Context, Exit

import tasks
from shared.deploy import release as release_module
from shared.deploy.outputs import flatten, write
from shared.errors import PlatformError

ENV = "t1"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
REPO = f"mlapi-payments-{ENV}"
FAMILY = f"mlapi-payments-{ENV}"
CONTAINER = "api"


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A payments layer in moto (repository with one pushed tag, a CODE_DEPLOY service, a CodeDeploy
    application and group) and the outputs file `invoke outputs` would write for it."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(release_module, "_sleep", lambda seconds: None)
    share_botocore_loaders(monkeypatch)  # the world's clients and each release's own session
    with mock_aws():
        ecr = boto3.client("ecr", region_name=REGION)
        repo_url = ecr.create_repository(repositoryName=REPO)["repository"]["repositoryUri"]
        for tag in ("0.9.0", "1.0.0"):
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": f"sha256:{tag.replace('.', '') * 8}"},
                "layers": [],
            }
            ecr.put_image(repositoryName=REPO, imageManifest=json.dumps(manifest), imageTag=tag)
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName=f"mlapi-payments-{ENV}")
        first = ecs.register_task_definition(
            family=FAMILY,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="512",
            memory="1024",
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/exec",
            taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/task",
            containerDefinitions=[
                {
                    "name": CONTAINER,
                    "image": f"{repo_url}:0.9.0",
                    "portMappings": [{"containerPort": 8080}],
                    "readonlyRootFilesystem": True,
                    "environment": [{"name": "PORT", "value": "8080"}],
                },
                {"name": "log-router", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"},
            ],
            tags=[{"key": "Layer", "value": "payments"}],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=f"mlapi-payments-{ENV}",
            serviceName=f"mlapi-payments-{ENV}",
            taskDefinition=first,
            desiredCount=2,
            deploymentController={"type": "CODE_DEPLOY"},
        )
        cd = boto3.client("codedeploy", region_name=REGION)
        cd.create_application(applicationName=f"mlapi-payments-{ENV}", computePlatform="ECS")
        cd.create_deployment_group(
            applicationName=f"mlapi-payments-{ENV}",
            deploymentGroupName=f"mlapi-payments-bg-{ENV}",
            serviceRoleArn=f"arn:aws:iam::{ACCOUNT}:role/codedeploy",
            deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            ecsServices=[{"serviceName": f"mlapi-payments-{ENV}", "clusterName": f"mlapi-payments-{ENV}"}],
        )
        payments = {
            "clusterName": f"mlapi-payments-{ENV}",
            "serviceName": f"mlapi-payments-{ENV}",
            "ecrRepositoryUrl": repo_url,
            "taskDefinitionArn": first,
            "taskFamily": FAMILY,
            "containerName": CONTAINER,
            "containerPort": 8080,
            "codedeployApplicationName": f"mlapi-payments-{ENV}",
            "codedeployDeploymentGroupName": f"mlapi-payments-bg-{ENV}",
            "serviceSubnetIds": ["subnet-a", "subnet-b"],
            "serviceSecurityGroupIds": ["sg-tasks"],
            "capacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 4},
            ],
            "platformVersion": "LATEST",
        }
        compute = {"clusterName": f"mlapi-cluster-{ENV}", "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/x:1"}
        path = tmp_path / "flat-outputs.json"
        write(path, flatten({"compute": compute, "payments": payments}))
        yield {"path": path, "repo_url": repo_url, "first": first, "outputs": payments, "ecs": ecs, "cd": cd}


class ScriptedCodeDeploy:
    """The real (moto) client, except that each get_deployment reports the next scripted step:
    ``(status, lifecycle events, extra deploymentInfo)``; the last step repeats."""

    def __init__(self, real: Any, steps: list[tuple[str, list[tuple[str, str]], dict[str, Any]]]) -> None:
        self.real = real
        self.steps = steps
        self.polls = 0
        self.created: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def create_deployment(self, **kwargs: Any) -> Any:
        self.created.append(kwargs)
        return self.real.create_deployment(**kwargs)

    def _step(self) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
        return self.steps[min(self.polls, len(self.steps)) - 1]

    def get_deployment(self, deploymentId: str) -> Any:
        info = self.real.get_deployment(deploymentId=deploymentId)["deploymentInfo"]  # it must exist in moto
        self.polls += 1
        status, _, extra = self._step()
        return {"deploymentInfo": {**info, "status": status, **extra}}

    def list_deployment_targets(self, deploymentId: str) -> Any:
        return {"targetIds": [f"{deploymentId}-target"]}

    def batch_get_deployment_targets(self, deploymentId: str, targetIds: list[str]) -> Any:
        events = [{"lifecycleEventName": name, "status": status} for name, status in self._step()[1]]
        return {"deploymentTargets": [{"deploymentTargetType": "ECSTarget", "ecsTarget": {"lifecycleEvents": events}}]}


def scripted(monkeypatch, steps) -> ScriptedCodeDeploy:
    holder: dict[str, ScriptedCodeDeploy] = {}

    def fake_clients(session):
        made = {name: session.client(name) for name in ("ecr", "ecs")}
        holder["cd"] = ScriptedCodeDeploy(session.client("codedeploy"), steps)
        return {**made, "codedeploy": holder["cd"]}

    monkeypatch.setattr(release_module, "clients", fake_clients)
    return holder  # type: ignore[return-value]


SUCCESS = [
    ("Created", [], {}),
    ("InProgress", [("BeforeInstall", "Succeeded"), ("Install", "InProgress")], {}),
    ("InProgress", [("BeforeInstall", "Succeeded"), ("Install", "Succeeded"), ("AllowTraffic", "InProgress")], {}),
    ("Succeeded", [("BeforeInstall", "Succeeded"), ("Install", "Succeeded"), ("AllowTraffic", "Succeeded")], {}),
]


def run_release(world, **kwargs) -> None:
    args = {"layer": "payments", "env": ENV, "image_tag": "1.0.0", "outputs": str(world["path"]), "region": REGION}
    tasks.release(Context(), **{**args, **kwargs})


def test_release_registers_a_revision_with_only_the_image_changed_and_follows_the_deployment_to_success(
    world, monkeypatch, capsys
):
    holder = scripted(monkeypatch, SUCCESS)
    run_release(world)
    out = capsys.readouterr().out

    ecs = world["ecs"]
    old = ecs.describe_task_definition(taskDefinition=world["first"])["taskDefinition"]
    new = ecs.describe_task_definition(taskDefinition=f"{FAMILY}:2", include=["TAGS"])
    task = new["taskDefinition"]
    assert [c["image"] for c in task["containerDefinitions"]] == [
        f"{world['repo_url']}:1.0.0",
        old["containerDefinitions"][1]["image"],  # the sidecar keeps its image
    ]
    for key in ("cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn", "requiresCompatibilities"):
        assert task[key] == old[key]
    app = task["containerDefinitions"][0]
    assert app["readonlyRootFilesystem"] is True and app["environment"] == [{"name": "PORT", "value": "8080"}]
    assert new["tags"] == [{"key": "Layer", "value": "payments"}]

    (request,) = holder["cd"].created
    assert request["applicationName"] == f"mlapi-payments-{ENV}"
    assert request["deploymentGroupName"] == f"mlapi-payments-bg-{ENV}"
    spec = json.loads(request["revision"]["appSpecContent"]["content"])
    assert spec["version"] == 0.0
    props = spec["Resources"][0]["TargetService"]["Properties"]
    assert spec["Resources"][0]["TargetService"]["Type"] == "AWS::ECS::Service"
    # The service ignores network, capacity and platform changes under CODE_DEPLOY, and CodeDeploy
    # drops a capacity provider strategy the AppSpec leaves out: the release names the declared ones.
    assert props == {
        "TaskDefinition": task["taskDefinitionArn"],
        "LoadBalancerInfo": {"ContainerName": CONTAINER, "ContainerPort": 8080},
        "NetworkConfiguration": {
            "AwsvpcConfiguration": {
                "Subnets": ["subnet-a", "subnet-b"],
                "SecurityGroups": ["sg-tasks"],
                "AssignPublicIp": "DISABLED",
            }
        },
        "CapacityProviderStrategy": [
            {"CapacityProvider": "FARGATE", "Base": 2, "Weight": 1},
            {"CapacityProvider": "FARGATE_SPOT", "Base": 0, "Weight": 4},
        ],
        "PlatformVersion": "LATEST",
    }
    # moto stored the deployment with that revision.
    (deployment_id,) = world["cd"].list_deployments()["deployments"]
    assert deployment_id in out
    # Each status change and each lifecycle event change once, in order.
    assert [line.strip() for line in out.splitlines() if line.strip().startswith("status:")] == [
        "status: Created",
        "status: InProgress",
        "status: Succeeded",
    ]
    events = [line.strip() for line in out.splitlines() if line.startswith("    ")]
    assert events == [
        "BeforeInstall: Succeeded",
        "Install: InProgress",
        "Install: Succeeded",
        "AllowTraffic: InProgress",
        "AllowTraffic: Succeeded",
    ]
    assert "succeeded" in out


def test_a_release_that_fails_and_rolls_back_exits_1_with_codedeploys_reason(world, monkeypatch, capsys):
    failed = {
        "errorInformation": {
            "code": "ECS_UPDATE_ERROR",
            "message": "The ECS service cannot be updated: tasks failed health checks",
        },
        "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1", "rollbackMessage": "Automatic rollback after failure"},
    }
    scripted(monkeypatch, [("InProgress", [("Install", "Failed")], {}), ("Failed", [("Install", "Failed")], failed)])
    with pytest.raises(Exit) as info:
        run_release(world)
    assert info.value.code == 1
    message = info.value.message
    assert "ECS_UPDATE_ERROR" in message and "failed health checks" in message
    assert "rolled back by deployment d-ROLLBACK1" in message
    assert "Install: Failed" in capsys.readouterr().out


def test_a_stopped_deployment_without_rollback_says_so(world, monkeypatch):
    stopped = {"errorInformation": {"code": "DEPLOYMENT_STOPPED", "message": "stopped by user"}}
    scripted(monkeypatch, [("Stopped", [], stopped)])
    with pytest.raises(Exit) as info:
        run_release(world)
    assert info.value.code == 1
    assert "stopped" in info.value.message and "not rolled back" in info.value.message


def test_a_deployment_still_running_at_the_timeout_exits_1_and_names_the_deployment(world, monkeypatch):
    holder = scripted(monkeypatch, [("InProgress", [("Install", "InProgress")], {})])
    now = [0.0]
    monkeypatch.setattr(release_module, "_clock", lambda: now[0])
    monkeypatch.setattr(release_module, "_sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    with pytest.raises(Exit) as info:
        run_release(world, timeout=60)  # polls every 15 s
    assert info.value.code == 1
    (deployment_id,) = world["cd"].list_deployments()["deployments"]
    assert "still InProgress after 60 s" in info.value.message and deployment_id in info.value.message
    assert holder["cd"].polls == 5  # bounded: 0, 15, 30, 45, 60 s


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [("-bad", "--image-tag"), ("has space", "--image-tag"), ("x" * 129, "--image-tag"), ("", "--image-tag")],
)
def test_invalid_image_tags_are_refused_before_any_aws_call(world, monkeypatch, tag, fragment):
    holder = scripted(monkeypatch, SUCCESS)
    with pytest.raises(Exit) as info:
        run_release(world, image_tag=tag)
    assert info.value.code == 2 and fragment in info.value.message
    assert "cd" not in holder and len(world["ecs"].list_task_definitions()["taskDefinitionArns"]) == 1


def test_a_tag_not_in_the_repository_is_refused_before_anything_changes(world, monkeypatch):
    holder = scripted(monkeypatch, SUCCESS)
    with pytest.raises(Exit) as info:
        run_release(world, image_tag="2.0.0")
    assert info.value.code == 2
    assert "'2.0.0' is not in repository" in info.value.message and "docker push" in info.value.message
    assert len(world["ecs"].list_task_definitions()["taskDefinitionArns"]) == 1
    assert holder["cd"].created == [] and world["cd"].list_deployments()["deployments"] == []


def test_bad_inputs_exit_2_with_the_fix(world, monkeypatch, tmp_path):
    scripted(monkeypatch, SUCCESS)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"outputs": str(tmp_path / "missing.json")}, "invoke outputs"),
        ({"layer": "compute"}, "no blue/green deployment"),
        ({"layer": "edge"}, "no outputs of layer edge"),
        ({"timeout": 0}, "--timeout"),
        ({"timeout": "an hour"}, "--timeout"),
    ]
    broken = json.loads(Path(world["path"]).read_text())
    del broken["payments.taskFamily"]
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(broken))
    cases.append(({"outputs": str(stale)}, "payments.taskFamily"))
    for kwargs, fragment in cases:
        with pytest.raises(Exit) as info:
            run_release(world, **kwargs)
        assert info.value.code == 2, kwargs
        assert fragment in info.value.message, (kwargs, info.value.message)
    assert len(world["ecs"].list_task_definitions()["taskDefinitionArns"]) == 1


def test_no_credentials_exit_2(world, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(Exit) as info:
        run_release(world)
    assert info.value.code == 2 and "no AWS credentials" in info.value.message


def _revision(ecs: Any, base: str, *, cpu: str, memory: str, image: str, **app: Any) -> str:
    """A new revision of ``base`` with this cpu, memory and image (and ``app``'s changes to the app container)."""
    previous = ecs.describe_task_definition(taskDefinition=base)["taskDefinition"]
    containers = [{**c, "image": image, **app} if c["name"] == CONTAINER else c for c in previous["containerDefinitions"]]
    return str(
        ecs.register_task_definition(
            family=FAMILY,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=cpu,
            memory=memory,
            containerDefinitions=containers,
        )["taskDefinition"]["taskDefinitionArn"]
    )


def test_the_copy_starts_from_the_definition_pulumi_declares_not_the_one_production_runs(world, monkeypatch, capsys):
    # A previous release left production on revision 2 (cpu 512); then `pulumi up` declared
    # revision 3 with cpu 1024 (the service ignores it under CODE_DEPLOY): the next release must
    # carry cpu 1024, or the change never reaches production.
    ecs = world["ecs"]
    released = _revision(ecs, world["first"], cpu="512", memory="1024", image=f"{world['repo_url']}:0.9.5")
    cluster, service = world["outputs"]["clusterName"], world["outputs"]["serviceName"]
    task_set = ecs.create_task_set(cluster=cluster, service=service, taskDefinition=released)["taskSet"]["taskSetArn"]
    ecs.update_service_primary_task_set(cluster=cluster, service=service, primaryTaskSet=task_set)
    declared = _revision(ecs, world["first"], cpu="1024", memory="2048", image=f"{world['repo_url']}:0.9.0")
    write(world["path"], flatten({"payments": {**world["outputs"], "taskDefinitionArn": declared}}))
    scripted(monkeypatch, SUCCESS)
    run_release(world)
    new = ecs.describe_task_definition(taskDefinition=f"{FAMILY}:4")["taskDefinition"]
    assert (new["cpu"], new["memory"]) == ("1024", "2048")
    assert new["containerDefinitions"][0]["image"].endswith(":1.0.0")
    assert f"Production runs {released}; the release builds on {declared}" in capsys.readouterr().out


def test_a_release_over_the_declared_placeholder_runs_the_images_own_command(world, monkeypatch, capsys):
    # The layer still declares the default image (the placeholder: `python3 -c <server>` as nobody):
    # the released image must run its own entrypoint, not the placeholder's code.
    from shared.service.task import PLACEHOLDER_SOURCE, PLACEHOLDER_USER

    ecs = world["ecs"]
    (app, _) = ecs.describe_task_definition(taskDefinition=world["first"])["taskDefinition"]["containerDefinitions"]
    declared = _revision(
        ecs,
        world["first"],
        cpu="512",
        memory="1024",
        image=app["image"],
        command=["python3", "-c", PLACEHOLDER_SOURCE],
        user=PLACEHOLDER_USER,
        environment=[*app["environment"], {"name": "DRAIN_SECONDS", "value": "10"}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
    )
    write(world["path"], flatten({"payments": {**world["outputs"], "taskDefinitionArn": declared}}))
    scripted(monkeypatch, SUCCESS)
    run_release(world)
    new = ecs.describe_task_definition(taskDefinition=f"{FAMILY}:3")["taskDefinition"]["containerDefinitions"][0]
    assert "command" not in new and "user" not in new and new["image"].endswith(":1.0.0")
    assert new["environment"] == [{"name": "PORT", "value": "8080"}]  # the layer's own, kept
    assert new["readonlyRootFilesystem"] is True
    assert "declares the placeholder image" in capsys.readouterr().out


def test_outputs_naming_a_revision_a_later_up_replaced_are_refused_before_anything_changes(world, monkeypatch):
    ecs = world["ecs"]
    holder = scripted(monkeypatch, SUCCESS)
    ecs.deregister_task_definition(taskDefinition=world["first"])  # what Pulumi does to the revision it replaces
    with pytest.raises(Exit) as info:
        run_release(world)
    assert info.value.code == 2 and "no longer active" in info.value.message and "invoke outputs" in info.value.message
    assert len(ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]) == 0
    assert holder["cd"].created == []  # type: ignore[index]


def test_an_outputs_file_from_before_the_appspec_outputs_leaves_them_to_the_service_and_bad_ones_are_refused(world):
    from shared.deploy.release import ReleaseTarget, appspec

    older = {
        k: v
        for k, v in world["outputs"].items()
        if k not in ("serviceSubnetIds", "serviceSecurityGroupIds", "capacityProviderStrategy", "platformVersion")
    }
    target = ReleaseTarget.from_outputs("payments", older, source="f.json")
    props = json.loads(appspec("arn:td:1", target))["Resources"][0]["TargetService"]["Properties"]
    assert set(props) == {"TaskDefinition", "LoadBalancerInfo"}
    for key, bad in (("capacityProviderStrategy", [{"capacityProvider": "FARGATE"}]), ("serviceSubnetIds", "subnet-a")):
        with pytest.raises(PlatformError, match=f"payments.{key}.*invoke outputs"):
            ReleaseTarget.from_outputs("payments", {**world["outputs"], key: bad}, source="f.json")


def _refusal(code: str, operation: str) -> Any:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": f"{code} (scripted)"}}, operation)


def test_aws_refusing_the_deployment_exits_2_with_its_reason_and_no_traceback(world, monkeypatch):
    holder = scripted(monkeypatch, SUCCESS)

    def refuse(**kwargs: Any) -> Any:
        raise _refusal("DeploymentLimitExceededException", "CreateDeployment")

    monkeypatch.setattr(ScriptedCodeDeploy, "create_deployment", lambda self, **kwargs: refuse(**kwargs))
    with pytest.raises(Exit) as info:
        run_release(world)
    assert info.value.code == 2
    message = info.value.message
    assert "CreateDeployment: DeploymentLimitExceededException" in message and "before any deployment started" in message
    (_, registered) = sorted(world["ecs"].list_task_definitions()["taskDefinitionArns"])
    assert f"task definition {registered} was registered but is not in use" in message
    assert holder["cd"].polls == 0


def test_losing_track_of_a_started_deployment_exits_1_and_names_it(world, monkeypatch):
    scripted(monkeypatch, SUCCESS)

    def throttled(self: ScriptedCodeDeploy, deploymentId: str) -> Any:
        raise _refusal("ThrottlingException", "GetDeployment")

    monkeypatch.setattr(ScriptedCodeDeploy, "get_deployment", throttled)
    with pytest.raises(Exit) as info:
        run_release(world)
    assert info.value.code == 1
    (deployment_id,) = world["cd"].list_deployments()["deployments"]
    assert f"lost track of deployment {deployment_id}" in info.value.message
    assert "GetDeployment: ThrottlingException" in info.value.message


def test_expired_credentials_exit_2_before_any_aws_change(world, monkeypatch):
    import botocore.client

    real = botocore.client.BaseClient._make_api_call

    def expired(self: Any, operation: str, params: Any) -> Any:
        if operation == "GetCallerIdentity":
            raise _refusal("ExpiredToken", operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", expired)
    holder = scripted(monkeypatch, SUCCESS)
    with pytest.raises(Exit) as info:
        run_release(world)
    assert info.value.code == 2 and "credentials do not work" in info.value.message and "ExpiredToken" in info.value.message
    assert "cd" not in holder and len(world["ecs"].list_task_definitions()["taskDefinitionArns"]) == 1
