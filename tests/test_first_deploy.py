"""The first real deploy in a fresh account: account pre-flight (moto, and recorded responses where
moto lacks an API), the health gate (moto ECS/ELBv2 and recorded failure responses), its wiring
and the idempotence check (the recording stand-in), and the create order that AWS's eventual
consistency needs (the mock runtime's registrations)."""

# ruff: noqa: F811  (the deploy fixtures imported below are pytest fixtures, named again as test parameters)
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import layer_of, plan_layers

# The stand-in and moto fixtures of the deploy tests, imported by name: a module-level
# `pytest_plugins` is not honoured when xdist's worker has already imported test_deploy.
from test_deploy import ENV, REGION, aws, deploy, failing, run_task, standin, tasks  # noqa: F401

from shared import contracts
from shared.deploy import account, health, preflight
from shared.deploy.cli import Backend

ACCOUNT = "123456789012"


def clients_for(region: str = REGION, **stubbed: Any):
    """A client factory: the given (stubbed) clients, else real boto3 clients (moto answers them)."""
    return lambda service: stubbed.get(service.replace("-", "_")) or boto3.client(service, region_name=region)


def network_settings(per_az: bool = False) -> SimpleNamespace:
    return SimpleNamespace(nat_gateway_per_az=per_az)


def service_settings(desired: int = 2, cpu: int = 1024, base: int = 2, weight: int = 3, spot: int = 7) -> SimpleNamespace:
    return SimpleNamespace(cpu=cpu, desired_count=desired, fargate_base=base, fargate_weight=weight, fargate_spot_weight=spot)


# -- the ECS service-linked role -----------------------------------------------------------------


def test_a_missing_ecs_service_linked_role_is_reported_with_the_command_that_creates_it(aws):
    problems, _ = account.check(
        clients_for(), env=ENV, region=REGION, account=ACCOUNT, settings={"compute": object()}, service_layers=["compute"]
    )
    (problem,) = problems
    assert "AWSServiceRoleForECS does not exist in account 123456789012" in problem
    assert "Unable to assume the service linked role" in problem
    assert "`invoke account-setup`" in problem and "--aws-service-name ecs.amazonaws.com" in problem


def the_ecs_service_linked_role_exists() -> None:
    """As AWS names it (moto's create_service_linked_role spells it AWSServiceRoleForecs)."""
    boto3.client("iam", region_name=REGION).create_role(
        RoleName="AWSServiceRoleForECS",
        Path="/aws-service-role/ecs.amazonaws.com/",
        AssumeRolePolicyDocument='{"Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}]}',
    )


def test_account_setup_creates_the_service_linked_role_for_ecs_and_does_nothing_once_it_exists(aws, capsys):
    iam = boto3.client("iam", region_name=REGION)
    run_task(tasks.account_setup, region=REGION)
    assert "Created the ECS service-linked role AWSServiceRoleForECS" in capsys.readouterr().out
    (role,) = iam.list_roles(PathPrefix="/aws-service-role/ecs.amazonaws.com/")["Roles"]
    assert "ecs.amazonaws.com" in str(role["AssumeRolePolicyDocument"])

    the_ecs_service_linked_role_exists()
    run_task(tasks.account_setup, region=REGION)
    assert "already exists: nothing to do" in capsys.readouterr().out
    assert len(iam.list_roles(PathPrefix="/aws-service-role/ecs.amazonaws.com/")["Roles"]) == 2  # nothing new
    problems, facts = account.check(
        clients_for(), env=ENV, region=REGION, account=ACCOUNT, settings={"compute": object()}, service_layers=["compute"]
    )
    assert problems == [] and "ECS service-linked role AWSServiceRoleForECS: present" in facts


def test_the_role_is_not_asked_for_when_no_layer_about_to_deploy_runs_ecs(aws):
    problems, facts = account.check(
        clients_for(), env=ENV, region=REGION, account=ACCOUNT, settings={"data": object()}, service_layers=[]
    )
    assert problems == [] and not any("service-linked" in f for f in facts)


# -- quotas --------------------------------------------------------------------------------------


def test_the_need_follows_the_settings_nat_per_az_triples_nat_and_elastic_ips():
    single = account.need_for([network_settings(False)])
    per_az = account.need_for([network_settings(True)])
    assert (single.vpcs, single.internet_gateways, single.elastic_ips, single.nat_gateways_per_az) == (1, 1, 1, 1)
    assert (per_az.elastic_ips, per_az.nat_gateways_per_az) == (3, 1)
    assert account.need_for([object()]) == account.Need() and not account.Need().any


def test_fargate_need_splits_base_and_weights_rounding_both_sides_up():
    assert account.fargate_split(2, 2, 3, 7) == (2, 0)
    assert account.fargate_split(10, 2, 3, 7) == (5, 6)  # 8 past the base: 2.4 -> 3 on demand, 5.6 -> 6 Spot
    assert account.fargate_split(4, 0, 0, 1) == (0, 4)
    need = account.need_for([service_settings(desired=10, cpu=2048)])
    assert (need.fargate_on_demand_vcpu, need.fargate_spot_vcpu) == (10.0, 12.0)


def test_elastic_ips_over_the_quota_are_refused_with_the_increase_command(aws):
    ec2 = boto3.client("ec2", region_name=REGION)
    for _ in range(3):
        ec2.allocate_address(Domain="vpc")
    problems, facts = account.quota_problems(clients_for(), ENV, REGION, account.need_for([network_settings(per_az=True)]))
    (problem,) = problems
    assert problem.startswith(f"Quota EC2-VPC Elastic IPs (ec2 L-0263D0A3) in {REGION}: the account uses 3 of 5")
    assert "needs 3 more" in problem
    assert f"--service-code ec2 --quota-code L-0263D0A3 --desired-value 10 --region {REGION}" in problem
    # moto's default VPC counts: 1 used + 1 new of the 5 VPCs Service Quotas reports.
    assert "VPCs per Region 1+1/5" in facts[0]
    # The same environment with one NAT gateway fits.
    assert account.quota_problems(clients_for(), ENV, REGION, account.need_for([network_settings()]))[0] == []


def test_what_this_environment_already_owns_is_not_counted_again(aws):
    ec2 = boto3.client("ec2", region_name=REGION)
    tags = [{"Key": "Environment", "Value": ENV}, {"Key": "Application", "Value": "mlapi"}]
    for index in range(4):
        ec2.create_vpc(
            CidrBlock=f"10.{index}.0.0/16",
            TagSpecifications=[
                {"ResourceType": "vpc", "Tags": tags if index == 0 else [*tags[:1], {"Key": "Application", "Value": "x"}]}
            ],
        )
    need = account.need_for([network_settings()])
    # 5 of 5 used, one of them this environment's own: a re-run creates no VPC.
    assert account.quota_problems(clients_for(), ENV, REGION, need)[0] == []
    problems, _ = account.quota_problems(clients_for(), "other", REGION, need)
    assert any(p.startswith("Quota VPCs per Region (vpc L-F678F1CE)") and "uses 5 of 5" in p for p in problems)


def test_fargate_vcpu_quota_is_read_from_service_quotas_and_compared_with_the_need(aws):
    quotas = boto3.client("service-quotas", region_name=REGION)
    stub = Stubber(quotas)
    stub.add_response(
        "get_service_quota",
        {"Quota": {"ServiceCode": "fargate", "QuotaCode": "L-3032A538", "Value": 4.0}},
        {"ServiceCode": "fargate", "QuotaCode": "L-3032A538"},
    )
    stub.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=None)
    stub.add_response(
        "get_aws_default_service_quota",
        {"Quota": {"ServiceCode": "fargate", "QuotaCode": "L-36FBB829", "Value": 6.0}},
        {"ServiceCode": "fargate", "QuotaCode": "L-36FBB829"},
    )
    with stub:
        problems, facts = account.quota_problems(
            clients_for(service_quotas=quotas), ENV, REGION, account.need_for([service_settings(desired=10, cpu=1024)])
        )
    (problem,) = problems
    assert "Fargate On-Demand vCPU resource count (fargate L-3032A538)" in problem and "uses 0 of 4 (applied)" in problem
    assert "needs 5 more" in problem
    assert "Fargate Spot vCPU resource count 0+6/6" in facts[0]  # AWS's default, exactly enough
    stub.assert_no_pending_responses()


class Described:
    """An EC2 or ECS client answering describe/list calls with recorded pages in AWS's shapes, for
    states moto cannot produce (a NAT gateway that is still deleting, an account over a default)."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers

    def can_paginate(self, operation: str) -> bool:
        return False

    def __getattr__(self, operation: str) -> Any:
        return lambda **_: self.answers.get(operation, {})


def ec2_answering(*, vpcs: int = 1, nats: list[tuple[str, str]] = (), subnets: dict[str, str] | None = None) -> Described:
    return Described(
        describe_vpcs={"Vpcs": [{"VpcId": f"vpc-{i}", "Tags": []} for i in range(vpcs)]},
        describe_internet_gateways={"InternetGateways": [{"InternetGatewayId": "igw-1"}]},
        describe_addresses={"Addresses": []},
        describe_nat_gateways={
            "NatGateways": [
                {"NatGatewayId": f"nat-{i}", "State": state, "SubnetId": subnet, "ConnectivityType": "public"}
                for i, (state, subnet) in enumerate(nats)
            ]
        },
        describe_subnets={"Subnets": [{"SubnetId": s, "AvailabilityZone": z} for s, z in (subnets or {}).items()]},
    )


NO_ECS = Described(list_clusters={"clusterArns": []})


def test_nat_gateways_still_deleting_count_against_the_per_az_quota(aws):
    # AWS counts pending, available and deleting NAT gateways: right after another environment's
    # down-all its gateways still hold the zone's quota for minutes.
    ec2 = ec2_answering(
        nats=[
            *[(state, "subnet-a") for state in ("available", "available", "pending", "deleting", "deleting")],
            *[(state, "subnet-a") for state in ("deleted", "failed")],  # these hold no quota
            ("available", "subnet-b"),
        ],
        subnets={"subnet-a": f"{REGION}a", "subnet-b": f"{REGION}b"},
    )
    problems, facts = account.quota_problems(
        clients_for(ec2=ec2, ecs=NO_ECS), ENV, REGION, account.need_for([network_settings()])
    )
    (problem,) = problems
    assert problem.startswith(f"Quota NAT gateways per Availability Zone (vpc L-FE5A380F) in {REGION}: the account uses 5 of 5")
    assert "NAT gateways per Availability Zone 5+1/5" in facts[0]


def test_fargate_usage_counts_running_tasks_vcpus_on_demand_and_spot_and_this_environments_own():
    ecs = Described(
        list_clusters={"clusterArns": ["arn:aws:ecs:eu-west-1:123456789012:cluster/mlapi-t1"]},
        describe_clusters={
            "clusters": [{"tags": [{"key": "Environment", "value": ENV}, {"key": "Application", "value": "mlapi"}]}]
        },
        list_tasks={"taskArns": ["t1", "t2", "t3", "t4"]},
        describe_tasks={
            "tasks": [
                {"taskArn": "t1", "launchType": "FARGATE", "capacityProviderName": "FARGATE", "cpu": "1024"},
                {"taskArn": "t2", "launchType": "FARGATE", "capacityProviderName": "FARGATE_SPOT", "cpu": "2048"},
                {"taskArn": "t3", "launchType": "FARGATE", "cpu": "512"},  # launch type, no capacity provider
                {"taskArn": "t4", "launchType": "EC2", "cpu": "4096"},  # not Fargate: another quota
            ]
        },
    )
    for env, own in ((ENV, (1.5, 2.0)), ("other", (0.0, 0.0))):
        used, owned = account.usage(clients_for(ec2=ec2_answering(), ecs=ecs), env)
        assert (used["fargate_on_demand_vcpu"], used["fargate_spot_vcpu"]) == (1.5, 2.0)
        assert (owned["fargate_on_demand_vcpu"], owned["fargate_spot_vcpu"]) == own


def refused_quota_reads(count: int) -> Any:
    quotas = boto3.client("service-quotas", region_name=REGION)
    stub = Stubber(quotas)
    for _ in range(count):
        stub.add_client_error("get_service_quota", "AccessDeniedException", expected_params=None)
    return quotas, stub


def test_an_unreadable_quota_refuses_only_when_aws_default_is_plausible_and_says_which_permission_reads_it():
    need = account.need_for([network_settings()])  # VPCs, gateways, Elastic IPs, NAT: four quota reads
    quotas, stub = refused_quota_reads(4)
    with stub:
        problems, facts = account.quota_problems(
            clients_for(ec2=ec2_answering(vpcs=7), ecs=NO_ECS, service_quotas=quotas), ENV, REGION, need
        )
    # 7 VPCs in use: the account's quota was raised above AWS's default of 5, so 5 proves nothing.
    assert problems == []
    assert any("VPCs per Region: could not be read" in f and "already uses 7, more than AWS's default 5" in f for f in facts)

    quotas, stub = refused_quota_reads(4)
    with stub:
        problems, _ = account.quota_problems(
            clients_for(ec2=ec2_answering(vpcs=5), ecs=NO_ECS, service_quotas=quotas), ENV, REGION, need
        )
    (problem,) = problems
    assert "uses 5 of 5 (assumed default (AccessDeniedException))" in problem
    assert "allow the deploy role servicequotas:GetServiceQuota" in problem


def test_resources_are_recognised_by_the_environment_suffix_the_settings_carry(aws):
    ec2 = boto3.client("ec2", region_name=REGION)
    for index in range(4):
        tags = [{"Key": "Environment", "Value": "blue" if index == 0 else "other"}, {"Key": "Application", "Value": "mlapi"}]
        ec2.create_vpc(CidrBlock=f"10.{index}.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])
    # The stack is t1, but environmentSuffix makes its resources' Environment tag "blue".
    network = SimpleNamespace(nat_gateway_per_az=False, env=SimpleNamespace(suffix="blue"))
    problems, _ = account.check(
        clients_for(), env=ENV, region=REGION, account=ACCOUNT, settings={"network": network}, service_layers=[]
    )
    assert problems == []
    network = SimpleNamespace(nat_gateway_per_az=False, env=SimpleNamespace(suffix="green"))
    problems, _ = account.check(
        clients_for(), env=ENV, region=REGION, account=ACCOUNT, settings={"network": network}, service_layers=[]
    )
    assert any("uses 5 of 5" in p for p in problems)


# -- the Aurora engine version (moto has no describe_db_engine_versions: recorded responses) --------


def rds_stub(
    versions: list[str], orderable: bool, version: str = "16", default_only: bool = True, max_acu: float = 256, asked: bool = True
):
    rds = boto3.client("rds", region_name=REGION)
    stub = Stubber(rds)
    request: dict[str, Any] = {"Engine": "aurora-postgresql", "EngineVersion": version}
    if default_only:
        request["DefaultOnly"] = True
    support = {"MaxCapacity": max_acu, "MinCapacity": 0.0}
    stub.add_response(
        "describe_db_engine_versions",
        {
            "DBEngineVersions": [
                {"Engine": "aurora-postgresql", "EngineVersion": v, "Status": "available", "ServerlessV2FeaturesSupport": support}
                for v in versions
            ]
        },
        request,
    )
    if versions and asked:  # refused before the orderable options are asked: not asked
        stub.add_response(
            "describe_orderable_db_instance_options",
            {
                "OrderableDBInstanceOptions": [{"EngineVersion": versions[0], "DBInstanceClass": "db.serverless"}]
                if orderable
                else []
            },
            {"Engine": "aurora-postgresql", "EngineVersion": versions[0], "DBInstanceClass": "db.serverless"},
        )
    return rds, stub


def test_a_major_version_resolves_to_the_regions_default_minor_with_serverless_v2():
    rds, stub = rds_stub(["16.6"], orderable=True)
    with stub:
        problem, fact = account.engine_version_problem(rds, "16", REGION)
    assert problem is None and fact == f"Aurora PostgreSQL 16 -> 16.6 in {REGION} (Serverless v2 offered)"
    stub.assert_no_pending_responses()


def test_a_max_capacity_above_what_the_version_scales_to_is_refused():
    # Older minors stop at 128 ACUs (RDS ServerlessV2FeaturesSupport.MaxCapacity); the settings accept up to 256.
    rds, stub = rds_stub(["13.9"], orderable=True, version="13", max_acu=32, asked=False)
    with stub:
        problem, fact = account.engine_version_problem(rds, "13", REGION, max_capacity=64)
    assert fact is None and problem and "maxCapacity is 64 ACUs" in problem and "at most 32 ACUs" in problem
    rds, stub = rds_stub(["16.6"], orderable=True, max_acu=256)
    with stub:
        problem, _ = account.engine_version_problem(rds, "16", REGION, max_capacity=64)
    assert problem is None


def test_a_default_minor_without_serverless_v2_is_refused():
    rds, stub = rds_stub(["16.6"], orderable=False)
    with stub:
        problem, _ = account.engine_version_problem(rds, "16", REGION)
    assert problem and "resolves to Aurora PostgreSQL 16.6" in problem and "does not offer Serverless v2" in problem


def test_an_exact_version_the_region_does_not_offer_is_refused_with_how_to_list_them():
    rds, stub = rds_stub([], orderable=False, version="16.99", default_only=False)
    with stub:
        problem, fact = account.engine_version_problem(rds, "16.99", REGION)
    assert fact is None and problem and f"Aurora PostgreSQL 16.99 is not offered in {REGION}" in problem
    assert "describe-db-engine-versions --engine aurora-postgresql" in problem


def test_an_exact_version_is_offered_only_when_the_answer_names_exactly_it():
    rds, stub = rds_stub(["16.10"], orderable=True, version="16.1", default_only=False)
    with stub:
        problem, fact = account.engine_version_problem(rds, "16.1", REGION)
    assert fact is None and problem and f"Aurora PostgreSQL 16.1 is not offered in {REGION}" in problem


# -- the policy pack's virtualenv ----------------------------------------------------------------


def test_a_missing_policy_pack_virtualenv_fails_pre_flight_with_the_fix(tmp_path):
    pack = tmp_path / "policy"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime:\n  name: python\n  options:\n    virtualenv: ../.venv\n")
    pre = preflight.Preflight(env=ENV, backend=Backend("file:///x", True))
    preflight.check_policy_pack(pre, pack)
    (problem,) = pre.problems
    assert "runs in the virtualenv ../.venv" in problem and "does not exist" in problem
    assert "./scripts/bootstrap.sh" in problem and "--no-policy" in problem

    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    pre = preflight.Preflight(env=ENV, backend=Backend("file:///x", True))
    preflight.check_policy_pack(pre, pack)
    assert pre.problems and "has no pulumi_policy installed" in pre.problems[0]

    (tmp_path / ".venv" / "lib" / "python3.11" / "site-packages" / "pulumi_policy").mkdir(parents=True)
    pre = preflight.Preflight(env=ENV, backend=Backend("file:///x", True))
    preflight.check_policy_pack(pre, pack)
    assert pre.problems == [] and any("policy pack virtualenv" in f for f in pre.facts)


# -- the health gate against moto ECS/ELBv2 -------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def moto_service(monkeypatch, *, running: int, targets: int) -> health.ServiceTarget:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))
    ec2, ecs, elbv2 = (boto3.client(s, region_name=REGION) for s in ("ec2", "ecs", "elbv2"))
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    group = elbv2.create_target_group(Name="svc", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    if targets:
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": f"10.9.0.{10 + i}", "Port": 8080} for i in range(targets)])
    ecs.create_cluster(clusterName="mlapi-t1")
    ecs.register_task_definition(
        family="api", containerDefinitions=[{"name": "api", "image": "python:3.12-alpine", "memory": 512}]
    )
    ecs.create_service(cluster="mlapi-t1", serviceName="api-t1", taskDefinition="api", desiredCount=2)
    return health.ServiceTarget("compute", "mlapi-t1", "api-t1", arn)


def test_a_steady_service_with_healthy_targets_passes_at_once(aws, monkeypatch):
    target = moto_service(monkeypatch, running=2, targets=2)
    clock = Clock()
    snap = health.wait_healthy(target, clients_for(), sleep=clock.sleep, clock=clock)
    assert (snap.running, snap.desired, snap.healthy_targets, snap.rollout) == (2, 2, 2, "COMPLETED")
    assert clock.waits == []


def test_a_service_with_no_running_task_fails_at_the_timeout_saying_what_it_saw(aws, monkeypatch):
    target = moto_service(monkeypatch, running=0, targets=0)
    clock = Clock()
    lines: list[str] = []
    with pytest.raises(health.HealthError) as info:
        health.wait_healthy(target, clients_for(), timeout=60, interval=15, sleep=clock.sleep, clock=clock, out=lines.append)
    message = str(info.value)
    assert message.startswith("compute: ECS service api-t1 (cluster mlapi-t1) is not healthy after 60 s: 0/2 tasks running")
    assert "aws ecs describe-services --cluster mlapi-t1 --services api-t1" in message
    assert sum(clock.waits) == 60 and lines == [
        "[compute] waiting for the service to be healthy: 0/2 tasks running, 2 pending, 0 healthy targets, deployment IN_PROGRESS"
    ]


def test_the_gate_reads_the_blue_target_group_of_a_blue_green_layer():
    outputs = {"clusterName": "c", "serviceName": "s", "targetGroupArn": "arn:tg/one", "blueTargetGroupArn": "arn:tg/blue"}
    assert health.ServiceTarget.from_outputs("payments", outputs).target_group_arn == "arn:tg/blue"
    deployed = health.ServiceTarget.from_outputs("compute", {**outputs, "taskDefinitionArn": "arn:td/api:7"})
    assert deployed.task_definition_arn == "arn:td/api:7"
    assert health.ServiceTarget.from_outputs("compute", {**outputs, "blueTargetGroupArn": ""}).target_group_arn == "arn:tg/one"
    with pytest.raises(health.HealthError, match="exports no serviceName"):
        health.ServiceTarget.from_outputs("compute", {"clusterName": "c"})
    assert health.runs_service("compute") and not health.runs_service("network") and not health.runs_service("edge")


# -- the health gate's failure reasons (moto cannot stop tasks or fail health checks) ---------------

TASK = "arn:aws:ecs:eu-west-1:123456789012:task/mlapi-t1/0123456789abcdef"
GROUP = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/0123456789abcdef"


def stubbed_service(*, rollout: str, running: int, target_state: str) -> tuple[Any, Any, list[Stubber]]:
    ecs, elbv2 = boto3.client("ecs", region_name=REGION), boto3.client("elbv2", region_name=REGION)
    ecs_stub, elb_stub = Stubber(ecs), Stubber(elbv2)
    ecs_stub.add_response(
        "describe_services",
        {
            "services": [
                {
                    "serviceName": "api-t1",
                    "status": "ACTIVE",
                    "desiredCount": 2,
                    "runningCount": running,
                    "pendingCount": 0,
                    "deploymentController": {"type": "ECS"},
                    "deployments": [
                        {
                            "status": "PRIMARY",
                            "rolloutState": rollout,
                            "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
                        }
                    ],
                    "events": [{"message": "(service api-t1) has started 1 tasks: (task 0123456789abcdef)."}],
                }
            ]
        },
        {"cluster": "mlapi-t1", "services": ["api-t1"]},
    )
    if running < 2 or rollout == "FAILED":
        ecs_stub.add_response(
            "list_tasks", {"taskArns": [TASK]}, {"cluster": "mlapi-t1", "serviceName": "api-t1", "desiredStatus": "STOPPED"}
        )
        ecs_stub.add_response(
            "describe_tasks",
            {
                "tasks": [
                    {
                        "taskArn": TASK,
                        "stoppedReason": "Essential container in task exited",
                        "containers": [{"name": "api", "exitCode": 1, "reason": "CannotPullContainerError: pull access denied"}],
                    }
                ]
            },
            {"cluster": "mlapi-t1", "tasks": [TASK]},
        )
    elb_stub.add_response(
        "describe_target_health",
        {
            "TargetHealthDescriptions": [
                {
                    "Target": {"Id": "10.0.1.5", "Port": 8080},
                    "TargetHealth": {
                        "State": target_state,
                        "Reason": "Target.ResponseCodeMismatch",
                        "Description": "Health checks failed with these codes: [502]",
                    },
                }
            ]
        },
        {"TargetGroupArn": GROUP},
    )
    return ecs, elbv2, [ecs_stub, elb_stub]


def test_the_circuit_breakers_verdict_fails_at_once_with_the_stopped_tasks_reason_and_target_health():
    ecs, elbv2, stubs = stubbed_service(rollout="FAILED", running=0, target_state="unhealthy")
    clock = Clock()
    target = health.ServiceTarget("compute", "mlapi-t1", "api-t1", GROUP)
    with stubs[0], stubs[1], pytest.raises(health.HealthError) as info:
        health.wait_healthy(target, clients_for(ecs=ecs, elbv2=elbv2), sleep=clock.sleep, clock=clock)
    message = str(info.value)
    assert "failed its deployment: 0/2 tasks running" in message
    assert "deployment circuit breaker: ECS deployment circuit breaker: tasks failed to start." in message
    assert (
        "stopped task 0123456789abcdef: Essential container in task exited; "
        "container api exited 1: CannotPullContainerError: pull access denied"
    ) in message
    assert "target 10.0.1.5:8080 unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])" in message
    assert "latest service event: (service api-t1) has started 1 tasks" in message
    assert clock.waits == []  # no waiting for a deployment ECS has given up on


def test_running_tasks_whose_targets_fail_health_checks_do_not_pass():
    ecs, elbv2, stubs = stubbed_service(rollout="COMPLETED", running=2, target_state="unhealthy")
    clock = Clock()
    target = health.ServiceTarget("compute", "mlapi-t1", "api-t1", GROUP)
    with stubs[0], stubs[1], pytest.raises(health.HealthError) as info:
        health.wait_healthy(target, clients_for(ecs=ecs, elbv2=elbv2), timeout=0, sleep=clock.sleep, clock=clock)
    assert "2/2 tasks running, 0 healthy targets" in str(info.value)
    assert "Health checks failed with these codes: [502]" in str(info.value)


OLD_TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:1"
NEW_TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:2"
GREEN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api-green/0123456789abcdef"


def healthy_targets(elb_stub: Stubber, group: str, count: int = 2) -> None:
    elb_stub.add_response(
        "describe_target_health",
        {
            "TargetHealthDescriptions": [
                {"Target": {"Id": f"10.0.1.{i}", "Port": 8080}, "TargetHealth": {"State": "healthy"}} for i in range(count)
            ]
        },
        {"TargetGroupArn": group},
    )


@pytest.mark.parametrize("failed_still_listed", [True, False], ids=["rolling-back", "rolled-back"])
def test_a_deployment_the_circuit_breaker_rolled_back_is_not_reported_healthy(failed_still_listed):
    # Rollback on: the failed deployment stops being PRIMARY at once, and the rollback (the previous
    # task definition) soon runs every task behind healthy targets: steady, but not what was deployed.
    ecs, elbv2 = boto3.client("ecs", region_name=REGION), boto3.client("elbv2", region_name=REGION)
    ecs_stub, elb_stub = Stubber(ecs), Stubber(elbv2)
    deployments = [{"id": "ecs-svc/111", "status": "PRIMARY", "taskDefinition": OLD_TD, "rolloutState": "COMPLETED"}]
    if failed_still_listed:
        deployments.append(
            {
                "id": "ecs-svc/222",
                "status": "ACTIVE",
                "taskDefinition": NEW_TD,
                "rolloutState": "FAILED",
                "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
            }
        )
    ecs_stub.add_response(
        "describe_services",
        {
            "services": [
                {
                    "serviceName": "api-t1",
                    "status": "ACTIVE",
                    "desiredCount": 2,
                    "runningCount": 2,
                    "pendingCount": 0,
                    "deploymentController": {"type": "ECS"},
                    "deployments": deployments,
                }
            ]
        },
        {"cluster": "mlapi-t1", "services": ["api-t1"]},
    )
    ecs_stub.add_response(
        "list_tasks",
        {"taskArns": [TASK, TASK + "0"]},
        {"cluster": "mlapi-t1", "serviceName": "api-t1", "desiredStatus": "STOPPED"},
    )
    ecs_stub.add_response(
        "describe_tasks",
        {
            "tasks": [
                {
                    "taskArn": TASK + "0",
                    "startedBy": "ecs-svc/000",
                    "stoppedReason": "Scaling activity initiated by (deployment ecs-svc/000)",
                },
                {
                    "taskArn": TASK,
                    "startedBy": "ecs-svc/222" if failed_still_listed else "ecs-svc/111",
                    "stoppedReason": "Essential container in task exited",
                    "containers": [{"name": "api", "exitCode": 3}],
                },
            ]
        },
        {"cluster": "mlapi-t1", "tasks": [TASK, TASK + "0"]},
    )
    healthy_targets(elb_stub, GROUP)
    target = health.ServiceTarget("compute", "mlapi-t1", "api-t1", GROUP, NEW_TD)
    clock = Clock()
    with ecs_stub, elb_stub, pytest.raises(health.HealthError) as info:
        health.wait_healthy(target, clients_for(ecs=ecs, elbv2=elbv2), sleep=clock.sleep, clock=clock)
    message = str(info.value)
    assert "was rolled back: 2/2 tasks running, 2 healthy targets" in message
    assert f"rolled back: ECS runs {OLD_TD}, not the deployed {NEW_TD}" in message
    assert "invoke refresh --layer compute" in message
    assert (
        "deployment circuit breaker: ECS deployment circuit breaker: tasks failed to start." in message
    ) is failed_still_listed
    if failed_still_listed:  # the failed deployment's own task, not an older deployment's scale-in
        assert "stopped task 0123456789abcdef: Essential container in task exited; container api exited 3" in message
        assert "Scaling activity" not in message
    assert clock.waits == []


def test_a_blue_green_service_is_checked_on_the_target_group_its_primary_task_set_serves():
    # After a CodeDeploy release the live tasks are registered in green; blue is empty.
    ecs, elbv2 = boto3.client("ecs", region_name=REGION), boto3.client("elbv2", region_name=REGION)
    ecs_stub, elb_stub = Stubber(ecs), Stubber(elbv2)
    ecs_stub.add_response(
        "describe_services",
        {
            "services": [
                {
                    "serviceName": "pay-t1",
                    "status": "ACTIVE",
                    "desiredCount": 2,
                    "runningCount": 2,
                    "pendingCount": 0,
                    "deploymentController": {"type": "CODE_DEPLOY"},
                    "deployments": [],
                    "taskSets": [
                        {
                            "id": "ecs-svc/9",
                            "status": "PRIMARY",
                            "taskDefinition": NEW_TD,
                            "loadBalancers": [{"targetGroupArn": GREEN}],
                        }
                    ],
                }
            ]
        },
        {"cluster": "mlapi-t1", "services": ["pay-t1"]},
    )
    healthy_targets(elb_stub, GREEN)
    target = health.ServiceTarget("payments", "mlapi-t1", "pay-t1", GROUP, OLD_TD)
    clock = Clock()
    with ecs_stub, elb_stub:
        snap = health.wait_healthy(target, clients_for(ecs=ecs, elbv2=elbv2), sleep=clock.sleep, clock=clock)
    assert (snap.healthy_targets, snap.target_group_arn, snap.rolled_back_to) == (2, GREEN, None)
    ecs_stub.assert_no_pending_responses()


# -- wiring through the deploy tasks (the recording stand-in) ----------------------------------------

SERVICE_OUTPUTS = {"clusterName": "mlapi-t1", "serviceName": "api-t1", "targetGroupArn": GROUP}


@pytest.fixture
def service_app(deploy, monkeypatch):
    """The fake ``app`` layer runs a service (its contract declares one) and the account has the ECS
    service-linked role; ``gate`` records what the health gate was asked and can fail it."""
    monkeypatch.setitem(contracts.CONTRACTS, "app", dict.fromkeys(SERVICE_OUTPUTS, ""))
    deploy.configure(outputs={"mlapi-app": SERVICE_OUTPUTS})
    the_ecs_service_linked_role_exists()
    asked: list[tuple[health.ServiceTarget, float]] = []
    verdict: dict[str, str | None] = {"error": None}

    def gate(target, clients, *, timeout, sleep, out):
        asked.append((target, timeout))
        if verdict["error"]:
            raise health.HealthError(verdict["error"])
        return health.Snapshot(desired=2, running=2, healthy_targets=2, rollout="COMPLETED")

    monkeypatch.setattr(health, "wait_healthy", gate)
    return SimpleNamespace(standin=deploy, asked=asked, verdict=verdict)


def test_up_all_waits_for_the_service_layer_to_be_healthy_before_the_layers_after_it(service_app, capsys):
    run_task(tasks.up_all, env=ENV, region=REGION, health_timeout=300)
    out = capsys.readouterr().out
    ((target, timeout),) = service_app.asked
    assert target == health.ServiceTarget("app", "mlapi-t1", "api-t1", GROUP) and timeout == 300
    assert service_app.standin.layers_of("up") == ["net", "db", "app", "cdn"]
    summary = out[out.index("every layer deployed") :]
    assert any(line.split()[:3] == ["app", "deployed,", "healthy"] for line in summary.splitlines()), summary
    assert "[app] health gate passed: 2/2 tasks running, 2 healthy targets" in out


def test_an_unhealthy_service_stops_up_all_before_the_edge_with_ecs_reasons(service_app, capsys):
    service_app.verdict["error"] = (
        "app: ECS service api-t1 (cluster mlapi-t1) failed its deployment: 0/2 tasks running.\n  stopped task 1: CannotPullContainerError"
    )
    error = failing(tasks.up_all, env=ENV, region=REGION)
    assert error.code == 1
    assert "up-all stopped at layer app (stack t1): could not bring its service up healthy (waited at most 900 s" in error.message
    assert "stopped task 1: CannotPullContainerError" in error.message
    assert "Nothing after it ran." in error.message
    assert service_app.standin.layers_of("up") == ["net", "db", "app"]  # cdn never deployed in front of it
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["app", "failed"] for line in out.splitlines())


def test_no_health_check_skips_the_gate(service_app):
    run_task(tasks.up, layer="net", env=ENV, region=REGION)
    run_task(tasks.up, layer="db", env=ENV, region=REGION)
    run_task(tasks.up, layer="app", env=ENV, region=REGION, health_check=False)
    assert service_app.asked == []
    assert failing(tasks.up, layer="app", env=ENV, region=REGION, health_timeout=0).code == 2


def test_a_service_layer_without_the_service_linked_role_is_refused_before_any_state_is_touched(deploy, monkeypatch):
    monkeypatch.setitem(contracts.CONTRACTS, "app", dict.fromkeys(SERVICE_OUTPUTS, ""))
    error = failing(tasks.up_all, env=ENV, region=REGION)
    assert error.code == 2 and "pre-flight failed, nothing was changed" in error.message
    assert "AWSServiceRoleForECS does not exist" in error.message and "invoke account-setup" in error.message
    assert not deploy.touched_state()


# -- idempotence ---------------------------------------------------------------------------------


def test_check_idempotent_names_the_layer_with_a_perpetual_diff_and_its_diff(deploy):
    deploy.configure(drift={"mlapi-db": ["~ aws:rds/cluster:Cluster aurora-cluster update [diff: ~engineVersion]"]})
    error = failing(tasks.up_all, env=ENV, region=REGION, check_idempotent=True)
    assert error.code == 1
    assert error.message.startswith("error: not idempotent: 1 layer(s) of t1 would change again")
    assert "db: a preview right after up proposes changes (a perpetual diff):" in error.message
    assert "~ aws:rds/cluster:Cluster aurora-cluster update [diff: ~engineVersion]" in error.message
    assert "net:" not in error.message and "cdn:" not in error.message
    previews = deploy.calls("preview")
    assert [r["project"] for r in previews] == ["mlapi-net", "mlapi-db", "mlapi-app", "mlapi-cdn"]
    assert all("--expect-no-changes" in r["argv"] for r in previews)


@pytest.mark.parametrize(
    "answer",
    [
        {"code": 7, "message": "no changes were expected but changes occurred"},
        {"code": 255, "message": "no changes were expected for preview but changes were proposed"},
    ],
    ids=["exit-7", "for-preview"],
)
def test_newer_cli_answers_to_expect_no_changes_are_read_as_a_perpetual_diff(deploy, answer):
    deploy.configure(drift={"mlapi-db": ["~ aws:rds/cluster:Cluster aurora-cluster update"]}, drift_exit=answer)
    error = failing(tasks.up_all, env=ENV, region=REGION, check_idempotent=True)
    assert error.message.startswith("error: not idempotent: 1 layer(s) of t1 would change again")
    assert "~ aws:rds/cluster:Cluster aurora-cluster update" in error.message


def test_idempotence_task_passes_when_no_layer_would_change_and_refuses_an_undeployed_environment(deploy, capsys):
    assert failing(tasks.idempotence, env=ENV, region=REGION).code == 2
    run_task(tasks.up_all, env=ENV, region=REGION, check_idempotent=True)
    run_task(tasks.idempotence, env=ENV, region=REGION)
    assert "idempotence t1: net, db, app, cdn show no changes" in capsys.readouterr().out
    assert not any(r["command"] in ("up", "destroy") for r in deploy.calls()[-6:])


# -- a failed first up is not a deployed upstream ------------------------------------------------


def test_an_upstream_whose_first_up_failed_is_refused_like_a_missing_one(deploy):
    # The engine records the root Stack resource and the default AWS provider before it creates
    # anything: two resources, and no outputs (the program never ran to its end).
    deploy.configure(fail={"up mlapi-net": {"times": 1, "message": "creating VPC: VpcLimitExceeded", "leaves": 2}})
    failing(tasks.up_all, env=ENV, region=REGION)
    assert deploy.state["stacks"][f"mlapi-net/{ENV}"]["resources"] == 2
    error = failing(tasks.up, layer="db", env=ENV, region=REGION)
    assert error.code == 2
    assert "cannot deploy db of t1 yet: it reads net" in error.message and "holds nothing yet" in error.message
    assert deploy.layers_of("up") == ["net"]


# -- create order for eventual consistency (mock runtime registrations) -----------------------------


def test_network_flow_log_waits_for_its_role_policy_and_the_log_group_for_the_key_alias(waits):
    layer_of(plan_layers("network"), "network")
    assert "flow-logs-role-policy" in waits["flow-logs-flow-log"]
    assert "flow-logs-key-alias" in waits["flow-logs-log-group"]


def test_data_log_group_waits_for_the_key_alias(waits):
    layer_of(plan_layers("data"), "data")
    assert "data-key-alias" in waits["aurora-postgresql-logs"]


def test_edge_bucket_settings_are_changed_one_at_a_time_and_waf_log_groups_wait_for_their_keys(waits):
    layer_of(plan_layers("edge"), "edge")
    assert "errors-public-access" in waits["errors-ownership"]
    assert "errors-ownership" in waits["errors-encryption"]
    log_groups = [name for name in waits if name.endswith("-logs") and f"{name}-key-alias" in waits[name]]
    assert len(log_groups) == 2, log_groups  # the CLOUDFRONT and the REGIONAL web ACL's


def test_the_payments_redirect_on_port_80_waits_for_the_production_listener_to_leave_it(waits):
    # With a domain the production listener moves from 80 to 443: in an environment that gains
    # the domain, a redirect listener created on 80 before that move is a DuplicateListener.
    layer_of(
        plan_layers("payments", config={"payments": {"albDomainName": "pay.example.com", "hostedZoneId": "Z0123"}}), "payments"
    )
    redirect = [name for name in waits if name.endswith("-http")]
    assert redirect and all(f"{name[: -len('-http')]}-production" in waits[name] for name in redirect), redirect


def test_the_new_tasks_are_in_the_collection():
    assert {"account-setup", "idempotence"} <= set(tasks.ns.task_names)
