"""`invoke verify` offline: every check against moto (AWS) and 127.0.0.1 (HTTP).

The world is built from the offline plan's outputs (names as the stacks would create them,
identifiers as moto assigns them); each break test changes one property and expects exactly the
check that guards it to fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import share_botocore_loaders
from invoke import Context, Exit
from verify_world import REGION, Servers, build, client, dump, interface_endpoint, iter_rows, serve

import tasks
from shared.errors import PlatformError
from shared.verify import REGISTRY, runner, verify

ENV = "demo"


class Clients:
    """boto3 clients for moto; ``tamper[(service, method)]`` rewrites one answer, standing in for
    states moto cannot reach (an unencrypted Aurora cluster, a service without a Spot strategy)."""

    def __init__(self) -> None:
        self.tamper: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self.calls: list[str] = []
        self.asked: list[tuple[str, str, str]] = []  # (service, method, its arguments as JSON)

    def __call__(self, service: str, region: str | None = None) -> Any:
        real = client(service, region or REGION)
        outer = self

        class Proxy:
            exceptions = real.exceptions

            def __getattr__(self, name: str) -> Any:
                method = getattr(real, name)
                fix = outer.tamper.get((service, name))
                if not callable(method) or name == "get_paginator":
                    return method

                def call(*args: Any, **kwargs: Any) -> Any:
                    outer.calls.append(f"{service}.{name}")
                    outer.asked.append((service, name, json.dumps(kwargs, sort_keys=True, default=str)))
                    answer = method(*args, **kwargs)
                    return fix(answer) if fix else answer

                return call

        return Proxy()


@dataclass
class World:
    flat: dict[str, Any]
    servers: Servers
    clients: Clients
    path: Any
    base: dict[str, Any]  # the module's outputs: an undo that recreates a resource records its new id here

    def run(self, **kwargs: Any) -> runner.Report:
        return verify(ENV, self.flat, clients=self.clients, region=REGION, urls=self.servers.urls, **kwargs)

    def aws(self, service: str) -> Any:
        return client(service)

    def out(self, key: str) -> Any:
        return self.flat[key]


@pytest.fixture(scope="module")
def base_world(default_plan, tmp_path_factory):
    """One environment for the module (building it costs seconds); each test gets fresh clients,
    HTTP behaviour and outputs, and every break below comes with its undo."""
    from moto import mock_aws

    plan_outputs = {layer["layer"]: layer["outputs"] for layer in default_plan.document()["layers"]}
    tmp = tmp_path_factory.mktemp("verify")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
        mp.setenv("AWS_CONFIG_FILE", str(tmp / "none"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "none"))
        mp.delenv("AWS_PROFILE", raising=False)
        mp.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
        share_botocore_loaders(mp)  # every run opens new sessions, as a `verify` command does
        with mock_aws():
            flat = build(plan_outputs)
            servers = serve()
            try:
                yield flat, servers
            finally:
                servers.close()


@pytest.fixture
def world(base_world, tmp_path, monkeypatch):
    flat, servers = base_world
    monkeypatch.setattr(runner, "_sleep", lambda seconds: None)
    servers.behaviour.__init__()  # type: ignore[misc]  # back to healthy answers
    path = tmp_path / "flat-outputs.json"
    dump(path, flat)
    return World(dict(flat), servers, Clients(), path, flat)


def failing_checks(report: runner.Report) -> list[str]:
    return [f"{r.layer}/{r.check}" for r in report.failures]


def test_a_healthy_environment_passes_every_check_of_every_layer(world):
    report = world.run()
    assert failing_checks(report) == [], report.format()
    ran = {(r.layer, r.check) for r in report.results}
    assert ran == {(c.layer, c.name) for c in REGISTRY}
    assert {layer for layer, _ in ran} == {"network", "data", "compute", "edge", "payments"}
    # The evidence is specific, not just "ok".
    evidence = {(r.layer, r.check): r.evidence for r in report.results}
    assert evidence[("compute", "tasks-running")] == "2 running = 2 desired >= minimum 2"
    assert evidence[("compute", "tasks-in-two-azs")] == "2 tasks in us-east-1a, us-east-1b"
    assert evidence[("data", "aurora-capacity")] == "0.5-2 ACUs (as configured)"
    assert "custom error page" in evidence[("edge", "unknown-path-404-page")]


def test_a_round_of_checks_asks_aws_each_read_once(world):
    report = world.run()
    assert report.passed, report.format()
    repeated = {call for call in world.clients.asked if world.clients.asked.count(call) > 1}
    assert not repeated, repeated
    # Five data checks read the cluster; AWS is asked once.
    assert world.clients.calls.count("rds.describe_db_clusters") == 1


def test_a_retry_round_asks_aws_again(world, monkeypatch):
    def one_stopped(answer: dict[str, Any]) -> dict[str, Any]:
        answer = json.loads(json.dumps(answer, default=str))
        for service in answer["services"]:
            service["runningCount"] = service["desiredCount"] - 1
        return answer

    world.clients.tamper[("ecs", "describe_services")] = one_stopped
    monkeypatch.setattr(runner, "_sleep", lambda seconds: world.clients.tamper.clear())  # the task came back
    now = iter(float(t) for t in range(0, 1000, 10))
    monkeypatch.setattr(runner, "_clock", lambda: next(now))
    report = world.run(wait=60)
    assert report.passed, report.format()
    asked = [call for call in world.clients.asked if call[:2] == ("ecs", "describe_services")]
    assert len(asked) == 4 and len(set(asked)) == 2  # compute's and payments' service, in each round


def test_a_check_that_changes_its_answer_does_not_change_what_the_next_one_reads():
    class Fake:
        asked = 0

        def describe_thing(self, **kwargs: Any) -> dict[str, Any]:
            Fake.asked += 1
            return {"Things": [{"Name": kwargs["Name"]}]}

    clients = runner.RoundClients(lambda service, region=None: Fake())
    first = clients("svc").describe_thing(Name="a")
    first["Things"].clear()
    assert clients("svc").describe_thing(Name="a") == {"Things": [{"Name": "a"}]}
    assert clients("svc").describe_thing(Name="b") == {"Things": [{"Name": "b"}]}
    assert Fake.asked == 2


def test_verify_is_read_only(world):
    world.run()
    verbs = {call.split(".", 1)[1].split("_", 1)[0] for call in world.clients.calls}
    assert verbs <= {"describe", "get", "list", "filter"}, verbs  # filter: logs:FilterLogEvents, a read


# -- one broken property -> exactly one failing check -------------------------------------------


# Each break changes one property (in moto, in the HTTP stand-ins, or, where moto cannot reach the
# state, in one answer) and returns how to undo it, so the module's environment stays healthy.
Undo = Callable[[], Any]


def _nothing() -> None:
    return None


def _tamper(service: str, method: str, fix: Callable[[dict[str, Any]], None]) -> Callable[[World], Undo]:
    def apply(w: World) -> Undo:
        def rewrite(answer: dict[str, Any]) -> dict[str, Any]:
            fix(answer)
            return answer

        w.clients.tamper[(service, method)] = rewrite
        return _nothing  # the next test gets fresh clients

    return apply


def _http(field: str, value: Any) -> Callable[[World], Undo]:
    def apply(w: World) -> Undo:
        setattr(w.servers.behaviour, field, value)
        return _nothing  # the world fixture resets the behaviour

    return apply


def _set(obj: Any, key: str, value: Any) -> None:
    obj[key] = value


def _logs_endpoint_gone(w: World) -> Undo:
    ec2 = w.aws("ec2")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[w.out("network.interfaceEndpointIds")["logs"]])

    def undo() -> None:
        recreated = interface_endpoint(_network_of(w), "logs")
        w.base["network.interfaceEndpointIds"] = {**w.out("network.interfaceEndpointIds"), "logs": recreated}

    return undo


def _network_of(w: World) -> dict[str, Any]:
    return {
        "vpcId": w.out("network.vpcId"),
        "privateSubnetIds": w.out("network.privateSubnetIds"),
        "endpointSecurityGroupId": w.out("network.endpointSecurityGroupId"),
    }


def _no_log_events(key: str) -> Callable[[World], Undo]:
    def apply(w: World) -> Undo:
        logs, group = w.aws("logs"), w.out(key)
        logs.delete_log_stream(logGroupName=group, logStreamName="api/app/0")

        def undo() -> None:
            logs.create_log_stream(logGroupName=group, logStreamName="api/app/0")
            logs.put_log_events(
                logGroupName=group, logStreamName="api/app/0", logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}]
            )

        return undo

    return apply


def _cluster_stopped(w: World) -> Undo:
    rds, name = w.aws("rds"), w.out("data.clusterIdentifier")
    rds.stop_db_cluster(DBClusterIdentifier=name)
    return lambda: rds.start_db_cluster(DBClusterIdentifier=name)


def _deletion_protected(w: World) -> Undo:
    rds, name = w.aws("rds"), w.out("data.clusterIdentifier")
    rds.modify_db_cluster(DBClusterIdentifier=name, DeletionProtection=True)
    return lambda: rds.modify_db_cluster(DBClusterIdentifier=name, DeletionProtection=False)


def _ttl_off(w: World) -> Undo:
    ddb, table = w.aws("dynamodb"), w.out("data.sessionTableName")
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expiresAt"})
    return lambda: ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )


def _pitr_off(w: World) -> Undo:
    ddb, table = w.aws("dynamodb"), w.out("data.sessionTableName")
    ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    return lambda: ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


def _one_running(answer: dict[str, Any]) -> None:
    # moto's services always run what they desire; a task that keeps failing to start looks like this
    for service in answer["services"]:
        if service["serviceName"].startswith("mlapi-api"):
            service["runningCount"] = 1


def _one_task_stopped(w: World) -> Undo:
    ecs, cluster = w.aws("ecs"), w.out("compute.clusterName")
    arns = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    task = ecs.describe_tasks(cluster=cluster, tasks=arns[:1])["tasks"][0]
    ecs.stop_task(cluster=cluster, task=task["taskArn"], reason="verify test")

    def undo() -> None:
        subnet = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}["subnetId"]
        ecs.run_task(
            cluster=cluster,
            taskDefinition=task["taskDefinitionArn"],
            capacityProviderStrategy=[{"capacityProvider": task.get("capacityProviderName", "FARGATE"), "weight": 1}],
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [w.out("network.serviceSecurityGroupId")]}
            },
        )

    return undo


def _targets_gone(key: str) -> Callable[[World], Undo]:
    def apply(w: World) -> Undo:
        elb, arn = w.aws("elbv2"), w.out(key)
        targets = [h["Target"] for h in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]]
        elb.deregister_targets(TargetGroupArn=arn, Targets=targets)
        return lambda: elb.register_targets(TargetGroupArn=arn, Targets=targets)

    return apply


def _policy_gone(w: World) -> Undo:
    scaling = w.aws("application-autoscaling")
    resource = f"service/{w.out('compute.clusterName')}/{w.out('compute.serviceName')}"
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)["ScalingPolicies"]
    keys = ("PolicyName", "ServiceNamespace", "ResourceId", "ScalableDimension")
    scaling.delete_scaling_policy(**{k: policy[k] for k in keys})
    return lambda: scaling.put_scaling_policy(
        **{k: policy[k] for k in keys},
        PolicyType=policy["PolicyType"],
        TargetTrackingScalingPolicyConfiguration=policy["TargetTrackingScalingPolicyConfiguration"],
    )


def _alarms_gone(w: World) -> Undo:
    cloudwatch, service = w.aws("cloudwatch"), w.out("compute.serviceName")
    alarms = [
        a for a in cloudwatch.describe_alarms()["MetricAlarms"] if any(d["Value"] == service for d in a.get("Dimensions", []))
    ]
    cloudwatch.delete_alarms(AlarmNames=[a["AlarmName"] for a in alarms])
    keys = (
        "AlarmName",
        "Namespace",
        "MetricName",
        "Dimensions",
        "Statistic",
        "Period",
        "EvaluationPeriods",
        "Threshold",
        "ComparisonOperator",
    )

    def undo() -> None:
        for alarm in alarms:
            cloudwatch.put_metric_alarm(**{k: alarm[k] for k in keys})

    return undo


def _retention_gone(w: World) -> Undo:
    logs, group = w.aws("logs"), w.out("compute.logGroupName")
    logs.delete_retention_policy(logGroupName=group)
    return lambda: logs.put_retention_policy(logGroupName=group, retentionInDays=30)


def _scan_off(w: World) -> Undo:
    ecr, name = w.aws("ecr"), w.out("compute.ecrRepositoryUrl").split("/", 1)[1]
    ecr.put_image_scanning_configuration(repositoryName=name, imageScanningConfiguration={"scanOnPush": False})
    return lambda: ecr.put_image_scanning_configuration(repositoryName=name, imageScanningConfiguration={"scanOnPush": True})


def _group_renamed(w: World) -> Undo:
    # moto cannot delete a deployment group: point the outputs at one that does not exist
    w.flat["payments.codedeployDeploymentGroupName"] = "mlapi-gone-demo"
    return _nothing


def _acl_detached(w: World) -> Undo:
    waf, alb = w.aws("wafv2"), w.out("compute.albArn")
    waf.disassociate_web_acl(ResourceArn=alb)
    return lambda: waf.associate_web_acl(WebACLArn=w.out("edge.regionalWebAclArn"), ResourceArn=alb)


def _only_fargate(answer: dict[str, Any]) -> None:
    for service in answer["services"]:
        if service["serviceName"].startswith("mlapi-api"):
            service["capacityProviderStrategy"] = [{"capacityProvider": "FARGATE", "weight": 1}]


BREAKS: dict[str, Callable[[World], Undo]] = {
    "network/vpc-endpoints-available": _logs_endpoint_gone,
    "network/flow-logs-deliver": _no_log_events("network.flowLogGroupName"),
    "data/aurora-available": _cluster_stopped,
    "data/aurora-encrypted": _tamper(
        "rds", "describe_db_clusters", lambda a: _set(a["DBClusters"][0], "StorageEncrypted", False)
    ),
    "data/aurora-capacity": _tamper(
        "rds",
        "describe_db_clusters",
        lambda a: _set(a["DBClusters"][0], "ServerlessV2ScalingConfiguration", {"MinCapacity": 1.0, "MaxCapacity": 4.0}),
    ),
    "data/aurora-deletion-protection": _deletion_protected,
    # moto refuses to cancel a rotation that has no Lambda function; RDS-managed secrets have none
    "data/master-secret-rotates": _tamper("secretsmanager", "describe_secret", lambda a: _set(a, "RotationEnabled", False)),
    "data/session-table-ttl": _ttl_off,
    "data/session-table-pitr": _pitr_off,
    "data/session-table-key": _tamper("dynamodb", "describe_table", lambda a: a["Table"].pop("SSEDescription", None)),
    "compute/tasks-running": _tamper("ecs", "describe_services", _one_running),
    "compute/tasks-in-two-azs": _one_task_stopped,
    "compute/fargate-spot-in-use": _tamper("ecs", "describe_services", _only_fargate),
    "compute/targets-healthy": _targets_gone("compute.targetGroupArn"),
    "compute/autoscaling-registered": _policy_gone,
    "compute/alarms-exist": _alarms_gone,
    "compute/logs-retention-and-key": _retention_gone,
    "compute/logs-receive-events": _no_log_events("compute.logGroupName"),
    "compute/ecr-scan-on-push": _scan_off,
    "payments/codedeploy-group-exists": _group_renamed,
    "payments/test-listener-answers": _http("test_listener", 503),
    "payments/targets-healthy": _targets_gone("payments.blueTargetGroupArn"),
    "edge/https-health-200": _http("health", 503),
    "edge/api-v1-reaches-service": _http("api_v1", 502),
    "edge/api-v2-reaches-service": _http("api_v2", 404),
    "edge/unknown-path-404-page": _http("not_found_page", False),
    "edge/http-redirects-to-https": _http("redirect", False),
    "edge/alb-refuses-direct-requests": _http("alb_status", 200),
    "edge/web-acls-associated": _acl_detached,
}


@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_breaking_one_property_fails_exactly_its_check(world, broken):
    undo = BREAKS[broken](world)
    try:
        report = world.run()
    finally:
        undo()
    assert failing_checks(report) == [broken], report.format()


def test_every_check_has_a_break_test():
    covered = {key.split("/", 1)[1] for key in BREAKS}
    assert {c.name for c in REGISTRY} <= covered


@pytest.mark.parametrize(
    ("broken", "evidence"),
    [
        (lambda w: setattr(w.servers.behaviour, "not_found_status", 200), "answered 200, not 404"),
        (lambda w: setattr(w.servers.behaviour, "not_found_page", False), "without the custom error page"),
        (lambda w: setattr(w.servers.behaviour, "alb_status", 200), "without the distribution's secret header"),
        (lambda w: setattr(w.servers.behaviour, "redirect", False), "not a redirect to https://"),
    ],
)
def test_http_failures_say_what_was_answered(world, broken, evidence):
    broken(world)
    (failure,) = world.run().failures
    assert evidence in failure.evidence


def test_a_load_balancer_that_drops_direct_connections_counts_as_refusing(world):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused, like a security group that drops the packets
    report = verify(
        ENV, world.flat, clients=world.clients, region=REGION, urls={**world.servers.urls, "alb": f"http://127.0.0.1:{port}"}
    )
    result = next(r for r in report.results if r.check == "alb-refuses-direct-requests")
    assert result.passed and "no connection" in result.evidence


def test_a_tls_failure_towards_the_load_balancer_is_not_taken_for_a_refusal(world):
    plain = world.servers.urls["alb"].replace("http://", "https://")  # TLS to a plain-HTTP server fails
    report = verify(ENV, world.flat, clients=world.clients, region=REGION, urls={**world.servers.urls, "alb": plain})
    (failure,) = report.failures
    assert failure.check == "alb-refuses-direct-requests" and "TLS failed" in failure.evidence


def test_a_name_that_does_not_resolve_is_not_taken_for_a_refusal(world):
    # A stale or not-yet-published origin name must not pass as "the ALB refuses direct requests".
    urls = {**world.servers.urls, "alb": "http://mlapi-verify-no-such-host.invalid"}
    report = verify(ENV, world.flat, clients=world.clients, region=REGION, urls=urls)
    (failure,) = report.failures
    assert failure.check == "alb-refuses-direct-requests" and "does not resolve" in failure.evidence


def test_log_events_older_than_an_hour_do_not_count_as_receiving(world):
    # describe_log_streams' lastEventTimestamp would call this stream live; only recent events count.
    logs, group = world.aws("logs"), world.out("compute.logGroupName")
    logs.delete_log_stream(logGroupName=group, logStreamName="api/app/0")
    logs.create_log_stream(logGroupName=group, logStreamName="api/app/0")
    two_hours_ago = int((time.time() - 7200) * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="api/app/0", logEvents=[{"timestamp": two_hours_ago, "message": "old"}])
    try:
        report = world.run()
    finally:
        _no_log_events("compute.logGroupName")(world)()  # a stream with a fresh event again
    assert failing_checks(report) == ["compute/logs-receive-events"], report.format()
    (failure,) = report.failures
    assert "no log event in the last hour" in failure.evidence


def test_an_answer_missing_a_field_is_one_fail_row_not_a_crash(world):
    def no_counts(answer: dict[str, Any]) -> None:
        for service in answer["services"]:
            service.pop("runningCount", None)

    world.clients.tamper[("ecs", "describe_services")] = lambda a: (no_counts(a), a)[1]
    report = world.run()
    failing = {f"{r.layer}/{r.check}": r.evidence for r in report.failures}
    assert set(failing) == {"compute/tasks-running", "payments/tasks-running"}, report.format()
    assert failing["compute/tasks-running"] == "unexpected answer: KeyError: 'runningCount'"
    assert len(report.results) == len(REGISTRY)


def test_the_test_listener_is_asked_under_the_payments_domain_when_it_has_one(world, monkeypatch):
    from shared.verify import http, service
    from shared.verify.core import Context as CheckContext

    asked: list[str] = []

    def fake_get(url: str, *, timeout: float, headers: Any = None) -> http.Answer:
        asked.append(url)
        return http.Answer(200, {}, "ok")

    monkeypatch.setattr(http, "get", fake_get)
    ctx = CheckContext(env=ENV, layer="payments", outputs=world.flat, clients=world.clients, region=REGION)
    service.test_listener(ctx)
    with_domain = CheckContext(
        env=ENV,
        layer="payments",
        outputs={**world.flat, "payments.testListenerPort": 8443},
        clients=world.clients,
        region=REGION,
        expected={"albDomainName": "pay.example.com"},
    )
    service.test_listener(with_domain)
    port = world.out("payments.testListenerPort")
    assert asked == [
        f"http://{world.out('payments.albDnsName')}:{port}/health",
        "https://pay.example.com:8443/health",  # the certificate's name, not the load balancer's
    ]


def test_the_payments_domain_comes_from_the_environments_stack_config(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(
        runner, "assemble", lambda layer, env: SimpleNamespace(values={"mlapi-payments:albDomainName": "pay.example.com"})
    )
    assert runner.expectations(ENV, ["payments"]) == {"payments": {"albDomainName": "pay.example.com"}}
    monkeypatch.setattr(runner, "assemble", lambda layer, env: SimpleNamespace(values={}))
    assert runner.expectations(ENV, ["payments"]) == {}


def test_deletion_protection_is_expected_in_a_protected_environment(world):
    world.flat.update({"data.protected": True})
    result = next(r for r in world.run().results if r.check == "aurora-deletion-protection")
    assert not result.passed and "off in a protected environment (want on)" in result.evidence


def test_wait_retries_only_the_settling_checks_until_they_pass(world, monkeypatch):
    behaviour = world.servers.behaviour
    behaviour.health = 503
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            behaviour.health = 200  # CloudFront finished deploying

    monkeypatch.setattr(runner, "_sleep", sleep)
    now = iter(float(t) for t in range(0, 1000, 10))
    monkeypatch.setattr(runner, "_clock", lambda: next(now))
    report = world.run(wait=60)
    assert report.passed, report.format()
    assert len(sleeps) == 2
    assert sum(1 for r in behaviour.requests if r == "site /health") == 3


def test_wait_is_bounded(world, monkeypatch):
    world.servers.behaviour.health = 503
    sleeps: list[float] = []
    monkeypatch.setattr(runner, "_sleep", sleeps.append)
    clock = [0.0]
    monkeypatch.setattr(runner, "_clock", lambda: clock[0])
    monkeypatch.setattr(runner, "_sleep", lambda s: (sleeps.append(s), clock.__setitem__(0, clock[0] + s)))
    report = world.run(wait=25)
    assert failing_checks(report) == ["edge/https-health-200"]
    assert sleeps == [10.0, 10.0, 5.0]


def test_only_one_layer(world):
    report = world.run(only="data")
    assert {r.layer for r in report.results} == {"data"} and report.passed


# -- bad input: exit 2 before any AWS call ---------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["data.sessionTableName", "payments.blueTargetGroupArn", "compute.albArn", "payments.logKmsKeyArn"]
)
def test_an_output_a_check_needs_missing_is_bad_input(world, key):
    del world.flat[key]
    with pytest.raises(PlatformError, match=f"lacks {key}"):
        world.run()
    assert world.clients.calls == []


def test_a_layer_the_environment_has_but_the_file_lacks_is_bad_input(world, monkeypatch):
    for key in [k for k in world.flat if k.startswith("edge.")]:
        del world.flat[key]
    monkeypatch.setattr(runner, "selected_layers", lambda env: ("network", "data", "compute", "edge"))
    with pytest.raises(PlatformError, match="no outputs of layer\\(s\\) edge"):
        world.run()
    assert world.clients.calls == []


def run_task(world, **kwargs: Any) -> None:
    urls = [f"{k}={v}" for k, v in world.servers.urls.items()]
    args = {"env": ENV, "outputs": str(world.path), "region": REGION, "url": urls}
    tasks.verify(Context(), **{**args, **kwargs})


def test_the_task_prints_one_row_per_check_and_exits_0(world, capsys):
    run_task(world)
    out = capsys.readouterr().out
    rows = list(iter_rows(out))
    assert len(rows) == len(REGISTRY) and all(result == "PASS" for _, _, result in rows)
    assert f"{len(REGISTRY)} of {len(REGISTRY)} checks passed" in out


def test_the_task_exits_1_when_a_check_fails(world, capsys):
    world.servers.behaviour.redirect = False
    with pytest.raises(Exit) as info:
        run_task(world)
    assert info.value.code == 1 and "1 check(s) failed" in info.value.message
    assert ("edge", "http-redirects-to-https", "FAIL") in set(iter_rows(capsys.readouterr().out))


def test_the_task_exits_2_on_bad_input(world, tmp_path, monkeypatch):
    stale = dict(world.flat)
    del stale["compute.clusterName"]
    dump(tmp_path / "stale.json", stale)
    cases = [
        ({"outputs": str(tmp_path / "nothing.json")}, "invoke outputs"),
        ({"outputs": str(tmp_path / "stale.json")}, "compute.clusterName"),
        ({"layer": "billing"}, "--layer billing"),
        ({"url": ["cdn=http://127.0.0.1:1"]}, "--url"),
        ({"wait": -1}, "--wait"),
        ({"wait": "soon"}, "--wait"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(Exit) as info:
            run_task(world, **kwargs)
        assert info.value.code == 2, kwargs
        assert fragment in info.value.message, (kwargs, info.value.message)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(Exit) as info:
        run_task(world)
    assert info.value.code == 2 and "no AWS credentials" in info.value.message


def test_the_outputs_file_is_the_one_invoke_outputs_writes(world):
    written = json.loads(world.path.read_text())
    # seed-style names are there for the seed-written tests, next to the layer-prefixed ones
    assert written["rds_cluster_endpoint"] == written["data.clusterEndpoint"]
    assert written["cloudfront_distribution_url"] == written["edge.distributionUrl"]
    assert "ecs_cluster_name" not in written  # compute and payments clusters differ: no guessing


def test_the_live_tests_run_the_same_checks(world):
    from integration.conftest import LiveEnvironment
    from integration.test_live import test_check

    live = LiveEnvironment(
        env=ENV,
        flat=world.flat,
        layers=runner.layers_to_verify(ENV, world.flat),
        clients=world.clients,
        region=REGION,
        expected=runner.expectations(ENV, ["data"]),
        wait=0.0,
        urls=world.servers.urls,
    )
    for check in REGISTRY:
        test_check(live, check)
    world.servers.behaviour.redirect = False
    redirect = next(c for c in REGISTRY if c.name == "http-redirects-to-https")
    with pytest.raises(AssertionError, match="not a redirect to https://"):
        test_check(live, redirect)


def test_a_failed_read_is_asked_again_and_paginators_are_the_clients_own():
    class Fake:
        asked = 0
        paginator = object()

        def describe_thing(self, **kwargs: Any) -> dict[str, Any]:
            Fake.asked += 1
            if Fake.asked == 1:
                raise RuntimeError("throttled")
            return {"Things": []}

        def get_paginator(self, name: str) -> object:
            return Fake.paginator

    clients = runner.RoundClients(lambda service, region=None: Fake())
    with pytest.raises(RuntimeError):
        clients("svc").describe_thing(Name="a")
    assert clients("svc").describe_thing(Name="a") == {"Things": []}
    assert Fake.asked == 2  # the failure was not kept as the answer
    assert clients("svc").get_paginator("describe_thing") is Fake.paginator
