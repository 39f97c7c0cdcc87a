"""The compute layer, rendered through its real program under the mock runtime.

Most tests feed the data layer's StackReference a contract-complete sample (so a value can be
varied per test); the network layer is rendered for real. ``test_offline_plan_...`` renders
network -> data -> compute through the real programs, as ``invoke plan`` does.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import layer_of, plan_layers, policy

from mlapi_compute.settings import DEFAULT_IMAGE, ComputeSettings
from shared import contracts, manifest
from shared.config import ConfigReader
from shared.errors import ConfigError, PlatformError
from shared.naming import MAX_SUFFIX_LENGTH
from shared.plan.engine import ORGANIZATION, RecordingMonitor, Rendered, render_program, run_main
from shared.references import stack_reference_name
from shared.settings import EnvironmentSettings
from shared.stack_config import assemble

REGION = "eu-west-1"
ENV = "cmp"
ACCOUNT = "111122223333"

ECR = "aws:ecr/repository:Repository"
TASKDEF = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
ALB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RECORD = "aws:route53/record:Record"

# The only "*" resources allowed, and why: neither action has a resource type in IAM.
STAR_EXCEPTIONS = {
    "ecr:GetAuthorizationToken",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def sample_data(region: str = REGION, **overrides: Any) -> dict[str, Any]:
    """What the data layer exports (every name its contract declares), with realistic values."""
    arn = f"arn:aws:{{}}:{region}:{ACCOUNT}:{{}}"
    values = {
        "clusterEndpoint": f"mlapi-db-{ENV}.cluster-c0ffee123456.{region}.rds.amazonaws.com",
        "readerEndpoint": f"mlapi-db-{ENV}.cluster-ro-c0ffee123456.{region}.rds.amazonaws.com",
        "databasePort": 5432.0,  # numbers cross a StackReference as floats
        "databaseName": "mlapi",
        "clusterIdentifier": f"mlapi-db-{ENV}",
        "clusterArn": arn.format("rds", f"cluster:mlapi-db-{ENV}"),
        "masterSecretArn": arn.format("secretsmanager", "secret:rds!cluster-8f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-Xy12Ab"),
        "sessionTableName": f"mlapi-sessions-{ENV}",
        "sessionTableArn": arn.format("dynamodb", f"table/mlapi-sessions-{ENV}"),
        "kmsKeyArn": arn.format("kms", "key/0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9"),
        "applicationSecretArns": {"model-api-key": arn.format("secretsmanager", "secret:mlapi/model-api-key-AbCdEf")},
        "protected": False,
        "decommissioning": False,
    }
    values.update(overrides)
    assert set(values) == set(contracts.CONTRACTS["data"]), "sample_data must match the data contract"
    return values


@functools.cache
def _network_outputs(env: str, region: str) -> dict[str, Any]:
    return dict(layer_of(plan_layers("network", env=env, region=region), "network").raw_outputs)


@contextlib.contextmanager
def recording_options(into: dict[str, dict[str, list[str]]]) -> Iterator[None]:
    """Record each registration's dependencies and ignoreChanges (the plan keeps only inputs)."""
    original = RecordingMonitor.RegisterResource

    def register(self, request):
        response = original(self, request)
        into[response.urn] = {"dependencies": list(request.dependencies), "ignoreChanges": list(request.ignoreChanges)}
        return response

    RecordingMonitor.RegisterResource = register  # type: ignore[method-assign]
    try:
        yield
    finally:
        RecordingMonitor.RegisterResource = original  # type: ignore[method-assign]


def render_compute(
    config: dict[str, Any] | None = None,
    *,
    data: dict[str, Any] | None = None,
    network: dict[str, Any] | None = None,
    env: str = ENV,
    region: str = REGION,
    options: dict[str, dict[str, list[str]]] | None = None,
) -> Rendered:
    """Render the compute program with the real network layer's exports and ``data`` for the data layer's."""
    layer = manifest.by_name("compute")
    cfg = assemble(
        layer, env, overrides={"aws:region": region, "environmentSuffix": env, "pulumiOrg": ORGANIZATION, **(config or {})}
    )
    outputs = {
        stack_reference_name(ORGANIZATION, "network", env): {**_network_outputs(env, region), **(network or {})},
        stack_reference_name(ORGANIZATION, "data", env): data if data is not None else sample_data(region),
    }
    with recording_options(options if options is not None else {}):
        return render_program(
            run_main(layer.directory),
            project=layer.project,
            stack=env,
            region=region,
            config=cfg.values,
            secret_keys=cfg.secret_keys,
            stack_outputs=outputs,
        )


def load_settings(region: str = REGION, **config: Any) -> ComputeSettings:
    values = {k: str(v) for k, v in config.items()}
    reader = ConfigReader("mlapi-compute", values.get)
    env = EnvironmentSettings.load(
        "compute", reader, project="mlapi-compute", stack=ENV, aws_lookup={"region": region}.get, environ={}
    )
    return ComputeSettings.load(reader, env=env)


def container(rendered: Rendered) -> dict[str, Any]:
    (definition,) = json.loads(rendered.one(TASKDEF).inputs["containerDefinitions"])
    return definition


def role_policies(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Role name -> its parsed inline policy."""
    roles = {r.id: r.inputs["name"] for r in rendered.of_type(ROLE)}
    return {roles[p.inputs["role"]]: policy(p.inputs["policy"]) for p in rendered.of_type(ROLE_POLICY)}


def statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


OPTIONS: dict[str, dict[str, list[str]]] = {}


@pytest.fixture(scope="module")
def compute() -> Rendered:
    return render_compute(options=OPTIONS)


@pytest.fixture(scope="module")
def https() -> Rendered:
    return render_compute({"albDomainName": "api.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"})


# --- image registry ----------------------------------------------------------------------------


def test_ecr_repository_scans_is_immutable_kms_encrypted_and_destroyable(compute):
    repo = compute.one(ECR).inputs
    assert repo["name"] == f"mlapi-api-{ENV}"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": sample_data()["kmsKeyArn"]}]
    assert repo["forceDelete"] is True
    lifecycle = compute.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs
    assert lifecycle["repository"] == repo["name"]
    # Only untagged images expire by default: ECR does not know which tagged image the service
    # runs, and a count rule would delete it after enough later pushes.
    (rule,) = json.loads(lifecycle["policy"])["rules"]
    assert rule["selection"] == {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}
    assert rule["action"] == {"type": "expire"}


def test_protected_environment_keeps_registry_images_and_the_load_balancer():
    rendered = render_compute({"protect": True, "ecrKeepImages": 25})
    assert rendered.one(ECR).inputs["forceDelete"] is False
    assert rendered.one(ALB).inputs["enableDeletionProtection"] is True
    assert (
        json.loads(rendered.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])["rules"][1]["selection"][
            "countNumber"
        ]
        == 25
    )


def test_decommissioning_lets_the_registry_and_the_load_balancer_be_deleted():
    rendered = render_compute({"protect": True, "decommission": True})
    assert rendered.one(ECR).inputs["forceDelete"] is True  # images go with the repository
    assert rendered.one(ALB).inputs["enableDeletionProtection"] is False


# --- cluster and capacity ----------------------------------------------------------------------


def test_cluster_has_container_insights_and_seventy_percent_spot(compute):
    cluster = compute.one("aws:ecs/cluster:Cluster").inputs
    assert cluster["name"] == f"mlapi-cluster-{ENV}"
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]
    providers = compute.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders").inputs
    assert providers["clusterName"] == cluster["name"]
    assert sorted(providers["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    strategy = {s["capacityProvider"]: s for s in providers["defaultCapacityProviderStrategies"]}
    assert (strategy["FARGATE"]["base"], strategy["FARGATE"]["weight"]) == (2, 3)
    assert strategy["FARGATE_SPOT"]["weight"] == 7 and not strategy["FARGATE_SPOT"].get("base")
    spot_share = strategy["FARGATE_SPOT"]["weight"] / sum(s["weight"] for s in strategy.values())
    assert spot_share == pytest.approx(0.7)
    # The service uses the same strategy (a service strategy overrides the cluster default).
    assert compute.one(SERVICE).inputs["capacityProviderStrategies"] == providers["defaultCapacityProviderStrategies"]
    assert "launchType" not in compute.one(SERVICE).inputs


def test_capacity_weights_are_configurable():
    rendered = render_compute({"fargateBase": 0, "fargateWeight": 1, "fargateSpotWeight": 1})
    strategy = {s["capacityProvider"]: s for s in rendered.one(SERVICE).inputs["capacityProviderStrategies"]}
    assert (strategy["FARGATE"].get("base", 0), strategy["FARGATE"]["weight"], strategy["FARGATE_SPOT"]["weight"]) == (0, 1, 1)


# --- task definition ---------------------------------------------------------------------------


def test_task_definition_is_fargate_awsvpc_one_vcpu_two_gib(compute):
    task = compute.one(TASKDEF).inputs
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == ("1024", "2048")
    assert task["family"] == f"mlapi-api-{ENV}"
    assert task["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}


def test_container_listens_on_the_network_layers_service_port(compute):
    (mapping,) = container(compute)["portMappings"]
    assert mapping["containerPort"] == mapping["hostPort"] == 8080 == int(_network_outputs(ENV, REGION)["servicePort"])
    assert mapping["protocol"] == "tcp"


def test_service_port_follows_the_network_layer():
    rendered = render_compute(network={"servicePort": 9000.0})
    assert container(rendered)["portMappings"][0]["containerPort"] == 9000
    assert rendered.one(TG).inputs["port"] == 9000
    assert rendered.one(SERVICE).inputs["loadBalancers"][0]["containerPort"] == 9000
    assert {"name": "PORT", "value": "9000"} in container(rendered)["environment"]


def test_logs_go_to_an_encrypted_30_day_group_under_the_environment_prefix(compute):
    group = compute.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"].startswith(f"/mlapi/{ENV}/")
    assert group.inputs["retentionInDays"] == 30
    assert group.inputs["kmsKeyId"] == sample_data()["kmsKeyArn"]
    log = container(compute)["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"]["awslogs-group"] == group.inputs["name"]
    assert log["options"]["awslogs-region"] == REGION
    assert log["options"]["awslogs-stream-prefix"] == "api"
    # The group exists before any task starts; the execution role may not create groups, so a
    # task asking awslogs to create one would fail to start.
    assert "awslogs-create-group" not in log["options"]
    assert log["options"]["mode"] == "non-blocking" and log["options"]["max-buffer-size"].endswith("m")
    # The region comes from settings: rendered in eu-west-1, no other region appears.
    assert "us-east-1" not in compute.one(TASKDEF).inputs["containerDefinitions"]


def test_region_follows_the_environment_everywhere_it_appears():
    """A literal region would pass a test rendered in one region only: render in a second one."""
    region = "ap-southeast-2"
    rendered = render_compute(region=region)
    c = container(rendered)
    assert c["logConfiguration"]["options"]["awslogs-region"] == region
    assert {"name": "AWS_REGION", "value": region} in c["environment"]
    conditions = [
        s["Condition"]["StringEquals"]["kms:ViaService"]
        for doc in role_policies(rendered).values()
        for s in doc["Statement"]
        if "Condition" in s
    ]
    assert sorted(conditions) == [f"dynamodb.{region}.amazonaws.com", f"secretsmanager.{region}.amazonaws.com"]
    assert REGION not in rendered.one(TASKDEF).inputs["containerDefinitions"]


def test_database_credentials_are_injected_secrets_and_plain_settings_are_environment(compute):
    data = sample_data()
    c = container(compute)
    secrets = {s["name"]: s["valueFrom"] for s in c["secrets"]}
    assert secrets == {
        "DB_USERNAME": f"{data['masterSecretArn']}:username::",
        "DB_PASSWORD": f"{data['masterSecretArn']}:password::",
        "MODEL_API_KEY": data["applicationSecretArns"]["model-api-key"],
    }
    environment = {e["name"]: e["value"] for e in c["environment"]}
    assert environment["SESSION_TABLE_NAME"] == data["sessionTableName"]
    assert environment["DB_HOST"] == data["clusterEndpoint"]
    assert environment["DB_READER_HOST"] == data["readerEndpoint"]
    assert (environment["DB_PORT"], environment["DB_NAME"], environment["AWS_REGION"]) == ("5432", "mlapi", REGION)
    # No secret (nor its ARN) leaks into plain environment variables.
    assert not any("secretsmanager" in v or "PASSWORD" in k for k, v in environment.items())


def test_root_filesystem_is_read_only_with_writable_scratch_and_not_privileged(compute):
    c = container(compute)
    assert c["readonlyRootFilesystem"] is True and c["privileged"] is False
    mounts = {m["containerPath"]: m for m in c["mountPoints"]}
    assert "/tmp" in mounts and mounts["/tmp"]["readOnly"] is False
    # ECS Exec's agent needs its own writable directories on a read-only root.
    assert {"/var/lib/amazon", "/var/log/amazon"} <= set(mounts)
    volumes = {v["name"] for v in compute.one(TASKDEF).inputs["volumes"]}
    assert volumes == {m["sourceVolume"] for m in c["mountPoints"]}
    assert c["linuxParameters"]["initProcessEnabled"] is True


def test_writable_root_or_no_exec_drops_the_extra_volumes():
    rendered = render_compute({"readonlyRootFilesystem": False})
    assert container(rendered)["readonlyRootFilesystem"] is False
    assert container(rendered)["mountPoints"] == [] and not rendered.one(TASKDEF).inputs.get("volumes")
    no_exec = render_compute({"enableExecuteCommand": False})
    assert [m["containerPath"] for m in container(no_exec)["mountPoints"]] == ["/tmp"]
    assert no_exec.one(SERVICE).inputs["enableExecuteCommand"] is False
    assert "configuration" not in no_exec.one("aws:ecs/cluster:Cluster").inputs
    task_policy = role_policies(no_exec)[f"mlapi-task-{ENV}"]
    assert not any(a.startswith(("ssmmessages:", "logs:")) for s in task_policy["Statement"] for a in s["Action"])


def test_task_size_is_configurable():
    rendered = render_compute({"cpu": 2048, "memory": 8192})
    task = rendered.one(TASKDEF).inputs
    assert (task["cpu"], task["memory"]) == ("2048", "8192")


# --- the default image -------------------------------------------------------------------------


def test_default_image_is_pinned_and_runs_the_placeholder_server(compute):
    c = container(compute)
    assert c["image"] == DEFAULT_IMAGE and c["image"].startswith("public.ecr.aws/")
    assert ":" in c["image"].rsplit("/", 1)[1] and not c["image"].endswith(":latest")
    assert c["command"][:2] == ["python3", "-c"]
    assert c["user"] == "65534:65534"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=b'{"x": 1}' if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _container_user(c: dict[str, Any]) -> dict[str, Any]:
    """subprocess arguments that run a process as the container's ``user`` (uid:gid), where this
    test can: as root, with an interpreter that user may execute. Elsewhere, as the current user."""
    uid, gid = (int(part) for part in c["user"].split(":"))
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return {}
    as_user = {"user": uid, "group": gid, "extra_groups": []}
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            if candidate and subprocess.run([candidate, "-c", "pass"], cwd="/", env={}, timeout=30, **as_user).returncode == 0:
                return {**as_user, "executable": candidate}
        except OSError:  # that user may not reach this interpreter (a virtualenv under /root)
            continue
    return {}


def test_default_container_command_answers_the_health_check_and_the_api_paths(compute):
    """Runs the rendered container's command line (python3 -c <source>) with the rendered
    environment, as the rendered user (nobody) when the test runs as root, from a directory it
    cannot write to - as ECS would on the default image - and asks it what the load balancer's
    health check and the listener rules send it."""
    c = container(compute)
    environment = {e["name"]: e["value"] for e in c["environment"]}
    # The server listens where the port mapping and the target group point.
    assert environment["PORT"] == str(c["portMappings"][0]["containerPort"]) == str(compute.one(TG).inputs["port"])
    assert environment["PYTHONDONTWRITEBYTECODE"] == "1"
    run_as = _container_user(c)
    executable = run_as.pop("executable", sys.executable)
    port = _free_port()
    environment["PORT"] = str(port)
    # After SIGTERM it keeps answering for DRAIN_SECONDS (a Spot interruption); 10 s, well within
    # the 120 s stop timeout with a 60 s request. Not waited for here.
    assert environment["DRAIN_SECONDS"] == "10" and int(environment["DRAIN_SECONDS"]) + 60 <= c["stopTimeout"]
    environment["DRAIN_SECONDS"] = "0"
    assert c["command"][0] == "python3"
    process = subprocess.Popen(
        [executable, *c["command"][1:]], env=environment, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, **run_as
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                status, body = _request(base + "/health")
                break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.05)
        else:
            status, body = 0, b""
        if status != 200 and process.poll() is not None:
            raise AssertionError("the placeholder server did not start: " + process.stderr.read().decode())  # type: ignore[union-attr]
        assert status == 200 and json.loads(body) == {"status": "ok"}
        assert _request(base + "/health", "HEAD")[0] == 200
        status, body = _request(base + "/api/v1/models?verbose=1")
        assert status == 200 and json.loads(body)["version"] == "v1"
        status, body = _request(base + "/api/v2/predict", "POST")
        assert status == 200 and json.loads(body)["version"] == "v2"
        assert _request(base + "/")[0] == 404
        assert _request(base + "/api/v3/predict")[0] == 404
        # A malformed length neither crashes the server nor hangs it waiting for a body.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"POST /api/v1/x HTTP/1.0\r\nContent-Length: -5\r\n\r\n")
            assert raw.recv(64).startswith(b"HTTP/1.0 200")
        assert process.poll() is None, "the server must keep running"
    finally:
        process.terminate()
        out, err = process.communicate(timeout=5)
    assert b"Traceback" not in err, err.decode()
    # Requests are logged on stdout (what awslogs ships), health checks are not.
    assert b"/api/v1/models" in out and b"/health" not in out


def test_another_image_runs_its_own_command():
    rendered = render_compute({"containerImage": "ghcr.io/acme/ml-api:1.4.2"})
    c = container(rendered)
    assert c["image"] == "ghcr.io/acme/ml-api:1.4.2"
    assert "command" not in c and "user" not in c
    tagged = render_compute({"imageTag": "2024.06.1"})
    repo_url = tagged.one(ECR).state["repositoryUrl"]
    assert container(tagged)["image"] == f"{repo_url}:2024.06.1"
    assert "command" not in container(tagged)


# --- roles -------------------------------------------------------------------------------------


def test_execution_and_task_roles_are_distinct_and_trust_only_ecs_tasks_of_this_account(compute):
    roles = {r.inputs["name"]: r for r in compute.of_type(ROLE)}
    execution, task = roles[f"mlapi-task-execution-{ENV}"], roles[f"mlapi-task-{ENV}"]
    definition = compute.one(TASKDEF).inputs
    assert definition["executionRoleArn"] == execution.state["arn"]
    assert definition["taskRoleArn"] == task.state["arn"]
    assert execution.state["arn"] != task.state["arn"]
    for role in (execution, task):
        (trust,) = policy(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_execution_role_pulls_writes_its_log_group_and_reads_exactly_the_injected_secrets(compute):
    data = sample_data()
    doc = statements(role_policies(compute)[f"mlapi-task-execution-{ENV}"])
    assert set(doc) == {"RegistryToken", "PullServiceImages", "WriteServiceLogs", "ReadInjectedSecrets", "DecryptInjectedSecrets"}
    assert doc["RegistryToken"]["Action"] == ["ecr:GetAuthorizationToken"] and doc["RegistryToken"]["Resource"] == ["*"]
    assert doc["PullServiceImages"]["Resource"] == [compute.one(ECR).state["arn"]]
    assert set(doc["PullServiceImages"]["Action"]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    }
    group_arn = compute.one("aws:cloudwatch/logGroup:LogGroup").state["arn"]
    assert doc["WriteServiceLogs"]["Resource"] == [group_arn, f"{group_arn}:log-stream:*"]
    assert set(doc["WriteServiceLogs"]["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    injected = {s["valueFrom"].split(":username::")[0].split(":password::")[0] for s in container(compute)["secrets"]}
    assert (
        set(doc["ReadInjectedSecrets"]["Resource"])
        == injected
        == {data["masterSecretArn"], *data["applicationSecretArns"].values()}
    )
    assert doc["ReadInjectedSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert doc["DecryptInjectedSecrets"]["Action"] == ["kms:Decrypt"]
    assert doc["DecryptInjectedSecrets"]["Resource"] == [data["kmsKeyArn"]]
    assert doc["DecryptInjectedSecrets"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    }


def test_task_role_uses_the_session_table_items_and_ecs_exec_channels(compute):
    data = sample_data()
    doc = statements(role_policies(compute)[f"mlapi-task-{ENV}"])
    table = doc["SessionTableItems"]
    assert table["Resource"] == [data["sessionTableArn"], data["sessionTableArn"] + "/index/*"]
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"} <= set(
        table["Action"]
    )
    assert not {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:CreateTable"} & set(table["Action"])
    assert doc["SessionTableEncryption"]["Resource"] == [data["kmsKeyArn"]]
    assert doc["SessionTableEncryption"]["Condition"]["StringEquals"]["kms:ViaService"] == f"dynamodb.{REGION}.amazonaws.com"
    assert doc["EcsExecChannels"]["Resource"] == ["*"]
    assert all(a.startswith("ssmmessages:") for a in doc["EcsExecChannels"]["Action"])
    assert doc["EcsExecSessionDecrypt"] == {
        "Sid": "EcsExecSessionDecrypt",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [data["kmsKeyArn"]],
    }
    # The cluster encrypts ECS Exec sessions with that same key.
    exec_config = compute.one("aws:ecs/cluster:Cluster").inputs["configuration"]["executeCommandConfiguration"]
    assert exec_config["kmsKeyId"] == data["kmsKeyArn"]
    # With DEFAULT exec logging the SSM agent writes session logs to the service's log group with
    # the task role: exactly that group's streams, and the group lookup in this account and region.
    assert exec_config["logging"] == "DEFAULT"
    group = compute.one("aws:cloudwatch/logGroup:LogGroup").state["arn"]
    assert doc["EcsExecSessionLogs"]["Resource"] == [group, group + ":log-stream:*"]
    assert set(doc["EcsExecSessionLogs"]["Action"]) == {"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}
    assert doc["EcsExecFindLogGroup"]["Action"] == ["logs:DescribeLogGroups"]
    assert doc["EcsExecFindLogGroup"]["Resource"] == [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"]


def test_the_roles_have_only_their_inline_policies(compute):
    # A managed policy (AmazonECSTaskExecutionRolePolicy grants logs and ECR on "*") would undo the
    # scoping above; so would a second inline policy nobody reviews.
    assert not compute.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert not compute.of_type("aws:iam/policyAttachment:PolicyAttachment")
    for role in compute.of_type(ROLE):
        assert not role.inputs.get("managedPolicyArns") and not role.inputs.get("inlinePolicies"), role.inputs["name"]
    assert sorted(role_policies(compute)) == sorted([f"mlapi-task-execution-{ENV}", f"mlapi-task-{ENV}"])
    assert len(compute.of_type(ROLE_POLICY)) == 2


def test_no_policy_has_wildcard_actions_or_star_resources_beyond_the_documented_exceptions(compute):
    for role, doc in role_policies(compute).items():
        for s in doc["Statement"]:
            assert s["Effect"] == "Allow"
            assert not any("*" in a for a in s["Action"]), (role, s["Sid"])
            if "*" in s["Resource"]:
                assert s["Resource"] == ["*"] and set(s["Action"]) <= STAR_EXCEPTIONS, (role, s["Sid"])


# --- service -----------------------------------------------------------------------------------


def test_service_runs_two_private_tasks_with_circuit_breaker_and_exec(compute):
    network = _network_outputs(ENV, REGION)
    service = compute.one(SERVICE).inputs
    assert service["desiredCount"] == 2
    assert service["cluster"] == compute.one("aws:ecs/cluster:Cluster").state["arn"]
    assert service["taskDefinition"] == compute.one(TASKDEF).state["arn"]
    net = service["networkConfiguration"]
    assert net["subnets"] == network["privateSubnetIds"] and net["assignPublicIp"] is False
    assert net["securityGroups"] == [network["serviceSecurityGroupId"]]
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["enableExecuteCommand"] is True
    assert service["healthCheckGracePeriodSeconds"] == 60
    (lb,) = service["loadBalancers"]
    assert lb == {
        "targetGroupArn": compute.one(TG).state["arn"],
        "containerName": container(compute)["name"],
        "containerPort": 8080,
    }


def test_autoscaling_owns_the_running_count_and_the_service_waits_for_what_it_needs(compute):
    service = compute.one(SERVICE)
    recorded = OPTIONS[service.urn]
    assert recorded["ignoreChanges"] == ["desiredCount"]
    # Without it, a changed capacity strategy (say fargateSpotWeight 7 -> 9) plans a replacement of
    # the service, which fails on its own name; with it the strategy updates in place.
    assert service.inputs["forceNewDeployment"] is True
    needed = [r.urn for r in compute.of_type(RULE)] + [
        compute.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders").urn,
        *[p.urn for p in compute.of_type(ROLE_POLICY)],
    ]
    assert set(needed) <= set(recorded["dependencies"])


# --- load balancer -----------------------------------------------------------------------------


def test_alb_is_internet_facing_in_public_subnets_and_drops_invalid_headers(compute):
    network = _network_outputs(ENV, REGION)
    alb = compute.one(ALB).inputs
    assert alb["internal"] is False and alb["loadBalancerType"] == "application"
    assert alb["subnets"] == network["publicSubnetIds"]
    assert alb["securityGroups"] == [network["albSecurityGroupId"]]
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["enableDeletionProtection"] is False


def test_target_group_registers_task_ips_and_checks_health_every_30_seconds(compute):
    tg = compute.one(TG).inputs
    assert (tg["targetType"], tg["protocol"], tg["port"]) == ("ip", "HTTP", 8080)
    assert tg["vpcId"] == _network_outputs(ENV, REGION)["vpcId"]
    check = tg["healthCheck"]
    assert (check["path"], check["interval"], check["matcher"]) == ("/health", 30, "200")
    assert check["timeout"] < check["interval"]


def test_without_a_domain_http_forwards_api_paths_and_everything_else_is_404(compute):
    (listener,) = compute.of_type(LISTENER)
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (80, "HTTP")
    (default,) = listener.inputs["defaultActions"]
    assert default["type"] == "fixed-response" and default["fixedResponse"]["statusCode"] == "404"
    tg_arn = compute.one(TG).state["arn"]
    routes = {}
    for rule in compute.of_type(RULE):
        assert rule.inputs["listenerArn"] == listener.state["arn"]
        assert rule.inputs["actions"] == [{"type": "forward", "targetGroupArn": tg_arn}]
        for condition in rule.inputs["conditions"]:
            routes.update(dict.fromkeys(condition["pathPattern"]["values"], rule.inputs["priority"]))
    assert set(routes) == {"/api/v1/*", "/api/v2/*", "/health"}
    assert len(set(routes.values())) == 3
    assert compute.outputs["httpsListenerArn"] == "" and compute.outputs["httpListenerArn"] == listener.state["arn"]
    assert compute.outputs["originProtocol"] == "http"
    assert compute.outputs["originHostname"] == compute.outputs["albDnsName"]
    assert not compute.of_type("aws:acm/certificate:Certificate")


def test_with_a_domain_https_with_a_validated_regional_certificate_and_http_redirects(https):
    cert = https.one("aws:acm/certificate:Certificate")
    assert cert.inputs["domainName"] == "api.example.com" and cert.inputs["validationMethod"] == "DNS"
    assert cert.provider and cert.provider.startswith(https.one("pulumi:providers:aws").urn)
    records = {r.name: r.inputs for r in https.of_type(RECORD)}
    (option,) = cert.state["domainValidationOptions"]
    validation = records["lb-certificate-validation-record"]
    assert validation["zoneId"] == "Z0123456789ABCDEFGHIJ"
    assert (validation["name"], validation["type"], validation["records"]) == (
        option["resourceRecordName"],
        option["resourceRecordType"],
        [option["resourceRecordValue"]],
    )
    validated = https.one("aws:acm/certificateValidation:CertificateValidation").inputs
    assert validated["certificateArn"] == cert.state["arn"]
    listeners = {lyr.inputs["port"]: lyr for lyr in https.of_type(LISTENER)}
    secure = listeners[443]
    assert secure.inputs["protocol"] == "HTTPS" and secure.inputs["certificateArn"] == cert.state["arn"]
    assert secure.inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert secure.inputs["defaultActions"][0]["fixedResponse"]["statusCode"] == "404"
    (redirect,) = listeners[80].inputs["defaultActions"]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}
    assert {r.inputs["listenerArn"] for r in https.of_type(RULE)} == {secure.state["arn"]}
    alias = records["lb-alias"]
    assert alias["name"] == "api.example.com" and alias["type"] == "A" and alias["zoneId"] == "Z0123456789ABCDEFGHIJ"
    alb = https.one(ALB).state
    assert alias["aliases"][0]["name"] == alb["dnsName"] and alias["aliases"][0]["zoneId"] == alb["zoneId"]
    assert https.outputs["httpsListenerArn"] == secure.state["arn"]
    assert https.outputs["httpListenerArn"] == listeners[80].state["arn"]
    assert (https.outputs["originProtocol"], https.outputs["originHostname"]) == ("https", "api.example.com")


def test_names_fit_aws_limits_at_the_longest_suffix():
    suffix = "s" * MAX_SUFFIX_LENGTH
    rendered = render_compute(env=suffix)
    assert len(rendered.one(ALB).inputs["name"]) <= 32 and len(rendered.one(TG).inputs["name"]) <= 32
    for reg in rendered.registrations:
        name = reg.inputs.get("name")
        if reg.custom and isinstance(name, str) and not reg.type.startswith("pulumi:"):
            assert suffix in name, (reg.type, name)
        if reg.type == ROLE:
            assert len(name) <= 64


# --- autoscaling and alarms --------------------------------------------------------------------


def _policies(rendered) -> dict[str, dict]:
    return {
        p.inputs["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"]["predefinedMetricType"]: p.inputs
        for p in rendered.of_type("aws:appautoscaling/policy:Policy")
    }


def test_autoscaling_tracks_requests_per_task_cpu_and_memory_between_two_and_ten(compute):
    target = compute.one("aws:appautoscaling/target:Target").inputs
    service = compute.one(SERVICE).inputs
    cluster = compute.one("aws:ecs/cluster:Cluster").inputs["name"]
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 10)
    assert target["resourceId"] == f"service/{cluster}/{service['name']}"
    assert target["scalableDimension"] == "ecs:service:DesiredCount" and target["serviceNamespace"] == "ecs"
    policies = _policies(compute)
    # The seed's 1000 requests per task, and CPU/memory: inference saturates a task's CPU first.
    assert set(policies) == {"ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization"}
    for scaling in policies.values():
        assert scaling["policyType"] == "TargetTrackingScaling" and scaling["resourceId"] == target["resourceId"]
    config = policies["ALBRequestCountPerTarget"]["targetTrackingScalingPolicyConfiguration"]
    metric = config["predefinedMetricSpecification"]
    assert metric["resourceLabel"] == f"{compute.one(ALB).state['arnSuffix']}/{compute.one(TG).state['arnSuffix']}"
    assert (config["targetValue"], config["scaleOutCooldown"], config["scaleInCooldown"]) == (1000, 60, 300)
    targets = {k: p["targetTrackingScalingPolicyConfiguration"]["targetValue"] for k, p in policies.items()}
    assert (targets["ECSServiceAverageCPUUtilization"], targets["ECSServiceAverageMemoryUtilization"]) == (70, 70)


def test_autoscaling_is_configurable():
    rendered = render_compute(
        {
            "minTasks": 3,
            "desiredCount": 4,
            "maxTasks": 20,
            "targetRequestsPerTask": 500,
            "scaleOutCooldownSeconds": 30,
            "scaleInCooldownSeconds": 600,
            "cpuTargetPercent": 60,
        }
    )
    target = rendered.one("aws:appautoscaling/target:Target").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (3, 20)
    assert rendered.one(SERVICE).inputs["desiredCount"] == 4
    policies = _policies(rendered)
    config = policies["ALBRequestCountPerTarget"]["targetTrackingScalingPolicyConfiguration"]
    assert (config["targetValue"], config["scaleOutCooldown"], config["scaleInCooldown"]) == (500, 30, 600)
    assert policies["ECSServiceAverageCPUUtilization"]["targetTrackingScalingPolicyConfiguration"]["targetValue"] == 60
    # A target at the alarm's threshold would keep the alarm firing whenever scaling works.
    with pytest.raises(ConfigError, match=r"mlapi-compute:memoryTargetPercent.*1 to 79"):
        load_settings(memoryTargetPercent="80")


def test_alarms_watch_the_alb_target_group_and_service(compute):
    alarms = {a.inputs["metricName"]: a.inputs for a in compute.of_type(ALARM)}
    # Exactly the six the README promises, one alarm each.
    assert set(alarms) == {
        "UnHealthyHostCount",
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
        "CPUUtilization",
        "MemoryUtilization",
        "RunningTaskCount",
    }
    assert len(compute.of_type(ALARM)) == 6
    assert alarms["MemoryUtilization"]["dimensions"] == alarms["CPUUtilization"]["dimensions"]
    alb_suffix, tg_suffix = compute.one(ALB).state["arnSuffix"], compute.one(TG).state["arnSuffix"]
    assert alarms["UnHealthyHostCount"]["dimensions"] == {"LoadBalancer": alb_suffix, "TargetGroup": tg_suffix}
    assert alarms["HTTPCode_ELB_5XX_Count"]["dimensions"] == {"LoadBalancer": alb_suffix}
    service = compute.one(SERVICE).inputs
    assert alarms["CPUUtilization"]["dimensions"] == {
        "ClusterName": compute.one("aws:ecs/cluster:Cluster").inputs["name"],
        "ServiceName": service["name"],
    }
    assert (
        alarms["RunningTaskCount"]["threshold"] == 2 and alarms["RunningTaskCount"]["comparisonOperator"] == "LessThanThreshold"
    )
    for alarm in alarms.values():
        assert alarm["name"].startswith("mlapi-") and alarm["name"].endswith(f"-{ENV}")
        assert not alarm.get("alarmActions")


def test_health_checks_log_retention_and_tls_policy_follow_their_settings():
    rendered = render_compute(
        {
            "healthCheckIntervalSeconds": "15",
            "healthCheckGracePeriodSeconds": "120",
            "logRetentionDays": "90",
            "albSslPolicy": "ELBSecurityPolicy-TLS13-1-3-2021-06",
            "albDomainName": "api.example.com",
            "hostedZoneId": "Z0123456789ABCDEFGHIJ",
        }
    )
    assert rendered.one(TG).inputs["healthCheck"]["interval"] == 15
    assert rendered.one(SERVICE).inputs["healthCheckGracePeriodSeconds"] == 120
    assert rendered.one("aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 90
    (https_listener,) = [lyr for lyr in rendered.of_type("aws:lb/listener:Listener") if lyr.inputs.get("protocol") == "HTTPS"]
    assert https_listener.inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"


def test_alarms_notify_a_configured_topic():
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:oncall"
    rendered = render_compute({"alarmTopicArn": topic})
    for alarm in rendered.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic] and alarm.inputs["okActions"] == [topic]


# --- exports -----------------------------------------------------------------------------------


def test_exports_are_exactly_the_contract_and_point_at_what_was_built(compute):
    out = compute.outputs
    assert set(out) == set(contracts.CONTRACTS["compute"])
    alb = compute.one(ALB).state
    assert (out["albDnsName"], out["albArn"], out["albArnSuffix"], out["albZoneId"]) == (
        alb["dnsName"],
        alb["arn"],
        alb["arnSuffix"],
        alb["zoneId"],
    )
    assert out["targetGroupArn"] == compute.one(TG).state["arn"]
    assert out["clusterName"] == f"mlapi-cluster-{ENV}" and out["serviceName"] == f"mlapi-api-{ENV}"
    assert out["taskDefinitionArn"] == compute.one(TASKDEF).state["arn"]
    assert out["logGroupName"] == compute.one("aws:cloudwatch/logGroup:LogGroup").inputs["name"]
    assert out["ecrRepositoryUrl"] == compute.one(ECR).state["repositoryUrl"]


def test_offline_plan_renders_network_data_and_compute_through_stack_references():
    plan = plan_layers("compute", env="plan", region=REGION)
    assert [lp.layer.name for lp in plan.layers] == ["network", "data", "compute"]
    rendered = layer_of(plan, "compute")
    data = layer_of(plan, "data").outputs
    assert sorted(rendered.stack_references) == ["organization/mlapi-data/plan", "organization/mlapi-network/plan"]
    assert rendered.one(ECR).inputs["encryptionConfigurations"][0]["kmsKey"] == data["kmsKeyArn"]
    assert rendered.one("aws:cloudwatch/logGroup:LogGroup").inputs["kmsKeyId"] == data["kmsKeyArn"]
    secrets = {s["name"]: s["valueFrom"] for s in container(rendered)["secrets"]}
    assert secrets["DB_PASSWORD"] == f"{data['masterSecretArn']}:password::"
    environment = {e["name"]: e["value"] for e in container(rendered)["environment"]}
    assert environment["SESSION_TABLE_NAME"] == data["sessionTableName"]
    assert environment["DB_HOST"] == data["clusterEndpoint"]
    assert set(rendered.outputs) == set(contracts.CONTRACTS["compute"])


# --- bad input ---------------------------------------------------------------------------------


def test_settings_defaults():
    s = load_settings()
    assert (s.cpu, s.memory, s.desired_count, s.min_tasks, s.max_tasks) == (1024, 2048, 2, 2, 10)
    assert (s.fargate_base, s.fargate_weight, s.fargate_spot_weight) == (2, 3, 7)
    assert s.uses_placeholder_server and not s.https


@pytest.mark.parametrize(
    "config, setting, allowed",
    [
        ({"cpu": 1024, "memory": 512}, "mlapi-compute:memory", "2048 to 8192 in steps of 1024"),
        ({"cpu": 256, "memory": 4096}, "mlapi-compute:memory", "512, 1024 or 2048"),
        ({"cpu": 3000}, "mlapi-compute:cpu", "256, 512, 1024"),
        ({"minTasks": 5, "maxTasks": 3}, "mlapi-compute:minTasks", "at most maxTasks (3)"),
        ({"desiredCount": 11}, "mlapi-compute:desiredCount", "from minTasks (2) to maxTasks (10)"),
        ({"minTasks": 0}, "mlapi-compute:minTasks", "from 1 to 1000"),
        (
            {"fargateWeight": 0, "fargateSpotWeight": 0},
            "mlapi-compute:fargateWeight + mlapi-compute:fargateSpotWeight",
            "at least one",
        ),
        ({"fargateSpotWeight": -1}, "mlapi-compute:fargateSpotWeight", "from 0 to 1000"),
        ({"containerImage": "nginx:latest"}, "mlapi-compute:containerImage", "pinned"),
        ({"containerImage": "nginx"}, "mlapi-compute:containerImage", "pinned"),
        ({"imageTag": "v1", "containerImage": "nginx:1.27"}, "mlapi-compute:imageTag", "not both"),
        ({"albDomainName": "api.example.com"}, "mlapi-compute:albDomainName", "hostedZoneId"),
        ({"hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "mlapi-compute:hostedZoneId", "albDomainName"),
        ({"albDomainName": "Not A Domain", "hostedZoneId": "Z0123"}, "mlapi-compute:albDomainName", "DNS name"),
        ({"albSslPolicy": "ELBSecurityPolicy-2016-08"}, "mlapi-compute:albSslPolicy", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ({"healthCheckIntervalSeconds": 5}, "mlapi-compute:healthCheckIntervalSeconds", "from 10 to 300"),
        ({"logRetentionDays": 10}, "mlapi-compute:logRetentionDays", "retention periods"),
        ({"alarmTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:oncall"}, "mlapi-compute:alarmTopicArn", REGION),
    ],
)
def test_bad_settings_name_the_setting_the_value_and_what_is_allowed(config, setting, allowed):
    with pytest.raises(ConfigError) as raised:
        load_settings(**config)
    assert raised.value.setting == setting
    assert allowed in raised.value.allowed
    assert str(raised.value).startswith(f"Invalid setting {setting} = ")


def test_a_bad_setting_stops_the_program_before_any_resource():
    registered: dict[str, dict[str, list[str]]] = {}
    with pytest.raises(ConfigError, match=r"mlapi-compute:memory = 512: .*2048 to 8192"):
        render_compute({"memory": 512}, options=registered)
    # Only the stack itself: no provider, no StackReference, no resource was declared.
    assert registered and all("::pulumi:pulumi:Stack::" in urn for urn in registered)


def test_a_bad_service_port_is_refused_before_any_resource():
    # The port is the network layer's setting; it refuses one the load balancer and the tasks'
    # security group rules could not use before the compute layer ever reads it.
    with pytest.raises(ConfigError, match=r"mlapi-network:servicePort = '80': a whole number from 1024 to 65535"):
        plan_layers("compute", config={"network": {"servicePort": 80}})


def test_an_application_secret_that_would_shadow_another_is_refused():
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:mlapi/db-password-AbCdEf"
    with pytest.raises(PlatformError, match=r"'db-password'.*DB_PASSWORD"):
        render_compute(data=sample_data(applicationSecretArns={"db-password": arn}))


# -- pinned: values whose reasons live in comments --------------------------------------------------
def test_target_group_health_check_thresholds(compute):
    check = compute.one(TG).inputs["healthCheck"]
    # Two passes (with the 10 s default interval: 20 s) put a new task in service; three failures take it out.
    assert (check["healthyThreshold"], check["unhealthyThreshold"], check["timeout"]) == (2, 3, 5)
    assert (check["matcher"], check["port"], check["protocol"], check["enabled"]) == ("200", "traffic-port", "HTTP", True)
    assert check["timeout"] < check["interval"]  # AWS refuses a timeout that is not shorter than the interval


def test_rolling_deployment_keeps_full_capacity_and_rolls_back(compute):
    service = compute.one(SERVICE).inputs
    # Never below the desired count during a deployment (100%), up to twice as many tasks while replacing.
    assert (service["deploymentMinimumHealthyPercent"], service["deploymentMaximumPercent"]) == (100, 200)
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}


def test_alb_domain_records_overwrite_the_acm_validation_record_and_evaluate_alb_health(https):
    records = {r.name: r.inputs for r in https.of_type(RECORD)}
    # ACM reuses the same validation record for every certificate of a name.
    assert records["lb-certificate-validation-record"]["allowOverwrite"] is True
    (alias,) = records["lb-alias"]["aliases"]
    assert alias["evaluateTargetHealth"] is True


# name -> (metric, statistic, comparison, threshold, period, evaluation periods, missing data)
PINNED_ALARMS = {
    "unhealthy-hosts": ("UnHealthyHostCount", "Maximum", "GreaterThanOrEqualToThreshold", 1, 60, 3, "notBreaching"),
    "target-5xx": ("HTTPCode_Target_5XX_Count", "Sum", "GreaterThanOrEqualToThreshold", 10, 300, 1, "notBreaching"),
    "alb-5xx": ("HTTPCode_ELB_5XX_Count", "Sum", "GreaterThanOrEqualToThreshold", 10, 300, 1, "notBreaching"),
    "cpu-high": ("CPUUtilization", "Average", "GreaterThanOrEqualToThreshold", 80, 60, 5, "missing"),
    "memory-high": ("MemoryUtilization", "Average", "GreaterThanOrEqualToThreshold", 80, 60, 5, "missing"),
    # "missing", not "breaching": a new environment has no Container Insights data yet (docs/services.md).
    "tasks-below-minimum": ("RunningTaskCount", "Minimum", "LessThanThreshold", 2, 60, 5, "missing"),
}


def _alarm_key(alarm) -> str:
    return alarm.inputs["name"].removeprefix("mlapi-api-").removesuffix(f"-{ENV}")


def test_alarm_thresholds_and_periods_are_pinned(compute):
    alarms = {_alarm_key(a): a.inputs for a in compute.of_type(ALARM)}
    assert set(alarms) == set(PINNED_ALARMS), sorted(alarms)
    for key, expected in PINNED_ALARMS.items():
        a = alarms[key]
        actual = (
            a["metricName"],
            a["statistic"],
            a["comparisonOperator"],
            a["threshold"],
            a["period"],
            a["evaluationPeriods"],
            a["treatMissingData"],
        )
        assert actual == expected, key


def test_each_alarm_description_states_its_threshold_and_window(compute):
    """The description is what the on-call engineer reads: '10 or more ... in 5 minutes' must be what
    the alarm does, so a threshold changed without its description (or the reverse) fails here."""
    import re

    for alarm in compute.of_type(ALARM):
        a = alarm.inputs
        description = a["alarmDescription"]
        minutes = [int(m) for m in re.findall(r"(\d+) minutes?", description)]
        assert minutes == [a["period"] * a["evaluationPeriods"] // 60], (description, a["period"], a["evaluationPeriods"])
        stated = re.findall(r"(\d+)(?:%| or more| running)", description) + re.findall(r"Fewer than (\d+)", description)
        if stated:
            assert {int(s) for s in stated} == {int(a["threshold"])}, (description, a["threshold"])
        else:
            # "Tasks failing ...": any one task, so the threshold is 1 (at or above).
            assert (a["threshold"], a["comparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold"), description
