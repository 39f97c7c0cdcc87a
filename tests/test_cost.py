"""invoke cost: the estimator over small synthetic plans (exact arithmetic), the usage file, the
price table and its refresh (recorded Price List API answers), the comparison, one real plan,
and the estimates quoted in docs/cost.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import plan_layers

from shared.cost import refresh as price_refresh
from shared.cost.estimate import FREE, NOT_PRICED, PRICED, Estimate, estimate, split_tasks
from shared.cost.prices import GLOBAL_KEYS, REGIONAL_KEYS, load_table
from shared.cost.report import compare, format_comparison, format_table, to_document
from shared.cost.runner import DOC, DOC_BLOCKS, DOC_REGION, REGENERATE, doc_block, quoted_blocks, render_plan
from shared.cost.usage import ASSUMPTIONS, Usage, load_usage
from shared.errors import ConfigError, PlatformError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TABLE = load_table()
US = TABLE.for_region("us-east-1")
HOURS = 730


def res(type_token: str, name: str, /, **inputs: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:t::p::{type_token}::{name}",
        "type": type_token,
        "name": name,
        "parent": None,
        "provider": None,
        "inputs": inputs,
    }


def plan(
    *resources: dict[str, Any], layer: str = "l", region: str = "us-east-1", **more_layers: list[dict[str, Any]]
) -> dict[str, Any]:
    layers = [{"layer": layer, "resources": list(resources)}] + [{"layer": k, "resources": v} for k, v in more_layers.items()]
    return {"format": 1, "environment": "t", "region": region, "layers": layers}


def priced(document: dict[str, Any], usage: Usage | None = None) -> Estimate:
    return estimate(document, TABLE, usage or Usage())


def only(est: Estimate, name: str):
    (found,) = [r for layer in est.layers for r in layer.resources if r.resource.name == name]
    return found


def charge(cost, item_start: str):
    (found,) = [c for c in cost.charges if c.item.startswith(item_start)]
    return found


# --- networking ---------------------------------------------------------------------------------


def test_nat_gateway_per_az_multiplies_hours_but_not_the_traffic():
    one = priced(plan(res("aws:ec2/natGateway:NatGateway", "nat-0")))
    three = priced(plan(*(res("aws:ec2/natGateway:NatGateway", f"nat-{i}") for i in range(3))))
    gb = Usage().nat_gb
    assert one.total == pytest.approx(HOURS * US["natGatewayHour"] + gb * US["natGatewayGb"])
    assert three.total == pytest.approx(3 * HOURS * US["natGatewayHour"] + gb * US["natGatewayGb"])
    assert charge(only(three, "nat-1"), "data processed").quantity == pytest.approx(gb / 3)


def test_elastic_ip_is_a_billed_public_ipv4_address():
    est = priced(plan(res("aws:ec2/eip:Eip", "eip", domain="vpc")))
    assert est.total == pytest.approx(HOURS * 0.005)


def test_interface_endpoint_is_billed_per_az_and_gateway_endpoint_is_free():
    est = priced(
        plan(
            res("aws:ec2/vpcEndpoint:VpcEndpoint", "ecr-api", vpcEndpointType="Interface", subnetIds=["a", "b", "c"]),
            res("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", vpcEndpointType="Gateway", routeTableIds=["r"]),
        )
    )
    endpoint = only(est, "ecr-api")
    assert charge(endpoint, "endpoint hours").quantity == 3 * HOURS
    assert endpoint.monthly == pytest.approx(
        3 * HOURS * US["interfaceEndpointHour"] + Usage().endpoint_gb * US["interfaceEndpointGb"]
    )
    assert only(est, "s3").status == FREE and only(est, "s3").monthly == 0


def test_load_balancers_hours_lcus_and_public_addresses():
    est = priced(
        plan(
            res("aws:lb/loadBalancer:LoadBalancer", "public", subnets=["a", "b", "c"]),
            res("aws:lb/loadBalancer:LoadBalancer", "internal", internal=True, subnets=["a", "b"]),
            res("aws:lb/loadBalancer:LoadBalancer", "nlb", loadBalancerType="network", internal=True, subnets=["a"]),
            res("aws:lb/loadBalancer:LoadBalancer", "gwlb", loadBalancerType="gateway", subnets=["a"]),
        ),
        Usage(lcus=2),
    )
    alb = HOURS * US["albHour"] + 2 * HOURS * US["albLcuHour"]
    assert only(est, "public").monthly == pytest.approx(alb + 3 * HOURS * US["publicIpv4Hour"])
    assert only(est, "internal").monthly == pytest.approx(alb)
    assert only(est, "nlb").monthly == pytest.approx(HOURS * US["nlbHour"] + 2 * HOURS * US["nlbLcuHour"])
    assert only(est, "gwlb").status == NOT_PRICED and "gateway" in only(est, "gwlb").note


# --- Fargate ------------------------------------------------------------------------------------


def _service(**inputs: Any) -> dict[str, Any]:
    base = {
        "name": "api",
        "cluster": "arn:aws:ecs:us-east-1:111122223333:cluster/c1",
        "taskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/fam:3",
        "desiredCount": 2,
    }
    return res("aws:ecs/service:Service", "svc", **{**base, **inputs})


def _task(cpu: str = "1024", memory: str = "2048", **inputs: Any) -> dict[str, Any]:
    return res("aws:ecs/taskDefinition:TaskDefinition", "td", family="fam", cpu=cpu, memory=memory, **inputs)


def _fargate_cost(tasks_on_demand: float, tasks_spot: float, vcpu: float = 1, gb: float = 2) -> float:
    return HOURS * (
        tasks_on_demand * (vcpu * US["fargateVcpuHour"] + gb * US["fargateGbHour"])
        + tasks_spot * (vcpu * US["fargateSpotVcpuHour"] + gb * US["fargateSpotGbHour"])
    )


def test_split_puts_the_base_on_fargate_and_the_rest_by_weight():
    strategy = [
        {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 3},
    ]
    assert split_tasks(6, strategy) == {"FARGATE": 3.0, "FARGATE_SPOT": 3.0}
    assert split_tasks(1, strategy) == {"FARGATE": 1.0, "FARGATE_SPOT": 0.0}


def test_fargate_service_priced_from_task_size_scaling_minimum_and_spot_split():
    strategy = [{"capacityProvider": "FARGATE", "base": 2, "weight": 1}, {"capacityProvider": "FARGATE_SPOT", "weight": 3}]
    est = priced(
        plan(
            _service(capacityProviderStrategies=strategy),
            _task(),
            res("aws:appautoscaling/target:Target", "target", resourceId="service/c1/api", minCapacity=4, maxCapacity=10),
        )
    )
    service = only(est, "svc")
    # 4 tasks: 2 base on FARGATE, the other 2 split 1:3 -> 2.5 on demand, 1.5 on Spot.
    assert charge(service, "Fargate vCPU-hours").quantity == pytest.approx(2.5 * HOURS)
    assert charge(service, "Fargate Spot memory").quantity == pytest.approx(1.5 * 2 * HOURS)
    assert service.monthly == pytest.approx(_fargate_cost(2.5, 1.5))
    assert only(est, "td").status == FREE


def test_fargate_service_uses_the_cluster_default_strategy_and_desired_count():
    est = priced(
        plan(
            _service(desiredCount=3),
            _task(cpu="0.5 vCPU", memory="1 GB"),
            res(
                "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
                "cp",
                clusterName="c1",
                defaultCapacityProviderStrategies=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
            ),
        ),
        Usage(extra_tasks=1),
    )
    assert only(est, "svc").monthly == pytest.approx(_fargate_cost(0, 4, vcpu=0.5, gb=1))


def test_arm64_tasks_are_never_priced_on_spot():
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    est = priced(plan(_service(capacityProviderStrategies=strategy), _task(runtimePlatform={"cpuArchitecture": "ARM64"})))
    service = only(est, "svc")
    assert service.monthly == pytest.approx(HOURS * 2 * (US["fargateArmVcpuHour"] + 2 * US["fargateArmGbHour"]))
    assert "Spot" in service.note


def test_ec2_launch_type_and_missing_task_definition_are_not_priced():
    est = priced(plan(_service(launchType="EC2"), layer="a", b=[_service(taskDefinition="other:1") | {"name": "svc2"}]))
    assert {r.resource.name: r.status for r in est.with_status(NOT_PRICED)} == {"svc": NOT_PRICED, "svc2": NOT_PRICED}
    assert "EC2" in only(est, "svc").note and "'other'" in only(est, "svc2").note


# --- Aurora, DynamoDB ---------------------------------------------------------------------------


def _aurora(min_capacity: float, max_capacity: float = 4, **inputs: Any) -> list[dict[str, Any]]:
    return [
        res(
            "aws:rds/cluster:Cluster",
            "cluster",
            engine="aurora-postgresql",
            clusterIdentifier="db",
            serverlessv2ScalingConfiguration={"minCapacity": min_capacity, "maxCapacity": max_capacity},
            **inputs,
        ),
        res("aws:rds/clusterInstance:ClusterInstance", "writer", clusterIdentifier="db", instanceClass="db.serverless"),
    ]


@pytest.mark.parametrize(
    ("floor", "average", "billed"),
    [(0.5, 0.5, 0.5), (1, 0.5, 1), (0.5, 3, 3), (0.5, 9, 4)],
    ids=["at-floor", "floor-above-average", "average", "capped-at-max"],
)
def test_aurora_serverless_acus_between_the_floor_and_the_max(floor, average, billed):
    est = priced(plan(*_aurora(floor)), Usage(aurora_acus=average))
    assert only(est, "writer").monthly == pytest.approx(billed * HOURS * US["auroraAcuHour"])


def test_aurora_auto_pause_bills_only_the_awake_share():
    est = priced(plan(*_aurora(0)), Usage(aurora_acus=0.2, aurora_active_share=0.1))
    writer = only(est, "writer")
    # Awake, an instance runs at 0.5 ACU at least.
    assert writer.monthly == pytest.approx(0.5 * HOURS * 0.1 * US["auroraAcuHour"])
    assert "auto-pause" in writer.note


def test_aurora_cluster_storage_io_and_managed_secret_and_io_optimized():
    usage = Usage(aurora_storage_gb=100, aurora_io_millions=10)
    standard = only(priced(plan(*_aurora(0.5, manageMasterUserPassword=True)), usage), "cluster")
    assert standard.monthly == pytest.approx(100 * US["auroraStorageGbMonth"] + 10 * US["auroraIoMillion"] + US["secretMonth"])
    optimized = priced(plan(*_aurora(0.5, storageType="aurora-iopt1")), usage)
    assert only(optimized, "cluster").monthly == pytest.approx(100 * US["auroraIoOptimizedStorageGbMonth"])
    assert only(optimized, "writer").monthly == pytest.approx(0.5 * HOURS * US["auroraIoOptimizedAcuHour"])


def test_provisioned_aurora_instance_is_not_priced():
    cluster, _ = _aurora(0.5)
    est = priced(
        plan(cluster, res("aws:rds/clusterInstance:ClusterInstance", "big", clusterIdentifier="db", instanceClass="db.r6g.large"))
    )
    assert only(est, "big").status == NOT_PRICED and "db.r6g.large" in only(est, "big").note


def test_dynamodb_on_demand_and_provisioned():
    usage = Usage(dynamodb_reads_millions=10, dynamodb_writes_millions=2, dynamodb_storage_gb=4)
    est = priced(
        plan(
            res("aws:dynamodb/table:Table", "od", billingMode="PAY_PER_REQUEST", pointInTimeRecovery={"enabled": True}),
            res("aws:dynamodb/table:Table", "prov", billingMode="PROVISIONED", readCapacity=5, writeCapacity=2),
        ),
        usage,
    )
    storage = 4 * US["dynamodbStorageGbMonth"]
    assert only(est, "od").monthly == pytest.approx(
        10 * US["dynamodbReadMillion"] + 2 * US["dynamodbWriteMillion"] + storage + 4 * US["dynamodbPitrGbMonth"]
    )
    assert only(est, "prov").monthly == pytest.approx(HOURS * (5 * US["dynamodbRcuHour"] + 2 * US["dynamodbWcuHour"]) + storage)


# --- the rest -----------------------------------------------------------------------------------


def test_waf_acl_rules_and_requests_with_rules_as_json_text():
    rules = [{"name": n, "priority": i} for i, n in enumerate(("a", "b", "c"))]
    est = priced(
        plan(
            res("aws:wafv2/webAcl:WebAcl", "listed", rules=rules),
            res("aws:wafv2/webAcl:WebAcl", "text", rules=json.dumps(rules)),
        ),
        Usage(requests_per_month=5_000_000),
    )
    expected = US["wafAclMonth"] + 3 * US["wafRuleMonth"] + 5 * US["wafRequestsMillion"]
    assert only(est, "listed").monthly == pytest.approx(expected)
    assert only(est, "text").monthly == pytest.approx(expected)


def test_cloudfront_kms_secrets_logs_alarms_ecr_s3():
    usage = Usage(
        requests_per_month=2_000_000,
        cloudfront_gb=100,
        kms_requests=20_000,
        secret_calls=30_000,
        logs_ingest_gb=2,
        ecr_gb=3,
        s3_gb=10,
    )
    est = priced(
        plan(
            res("aws:cloudfront/distribution:Distribution", "cdn", priceClass="PriceClass_100"),
            res("aws:kms/key:Key", "key"),
            res("aws:secretsmanager/secret:Secret", "secret"),
            res("aws:cloudwatch/logGroup:LogGroup", "logs", retentionInDays=90),
            res("aws:cloudwatch/logGroup:LogGroup", "forever"),
            res("aws:cloudwatch/metricAlarm:MetricAlarm", "std", period=300),
            res("aws:cloudwatch/metricAlarm:MetricAlarm", "fast", period=10),
            res("aws:ecr/repository:Repository", "repo"),
            res("aws:s3/bucket:Bucket", "bucket"),
        ),
        usage,
    )
    assert only(est, "cdn").monthly == pytest.approx(2 * US["cloudfrontHttpsRequestsMillion"] + 100 * US["cloudfrontDataOutGb"])
    assert only(est, "key").monthly == pytest.approx(US["kmsKeyMonth"] + 2 * US["kmsRequests10k"])
    assert only(est, "secret").monthly == pytest.approx(US["secretMonth"] + 3 * US["secretApiCalls10k"])
    assert only(est, "logs").monthly == pytest.approx(2 * US["logsIngestGb"] + 2 * 3 * US["logsStorageGbMonth"])
    assert charge(only(est, "forever"), "storage").quantity == pytest.approx(2 * 12)
    assert only(est, "std").monthly == pytest.approx(US["alarmStandardMonth"])
    assert only(est, "fast").monthly == pytest.approx(US["alarmHighResolutionMonth"])
    assert only(est, "repo").monthly == pytest.approx(3 * US["ecrStorageGbMonth"])
    assert only(est, "bucket").monthly == pytest.approx(10 * US["s3StorageGbMonth"])


def test_container_insights_counts_the_services_of_its_cluster():
    cluster = res("aws:ecs/cluster:Cluster", "cluster", name="c1", settings=[{"name": "containerInsights", "value": "enabled"}])
    est = priced(plan(cluster, _service(), _service(name="two") | {"name": "svc-two"}, _task()))
    metrics = Usage().insights_cluster_metrics + 2 * Usage().insights_service_metrics
    assert charge(only(est, "cluster"), "Container Insights metrics").quantity == pytest.approx(metrics)
    plain = priced(plan(res("aws:ecs/cluster:Cluster", "cluster", name="c1")))
    assert only(plain, "cluster").status == FREE


def test_codedeploy_is_free_for_ecs_and_not_priced_for_servers():
    est = priced(
        plan(
            res("aws:codedeploy/application:Application", "app", name="a", computePlatform="ECS"),
            res("aws:codedeploy/deploymentGroup:DeploymentGroup", "group", appName="a"),
            res("aws:codedeploy/application:Application", "ec2-app", name="b", computePlatform="Server"),
        )
    )
    assert only(est, "app").status == FREE and only(est, "group").status == FREE
    assert only(est, "ec2-app").status == NOT_PRICED


def test_hours_per_month_scales_every_charge_but_the_route53_zone_fee():
    document = plan(
        res("aws:ec2/natGateway:NatGateway", "nat"), res("aws:kms/key:Key", "key"), res("aws:route53/zone:Zone", "zone")
    )
    full, tenth = priced(document), priced(document, Usage(hours_per_month=73))
    assert only(tenth, "nat").monthly == pytest.approx(only(full, "nat").monthly / 10)
    assert only(tenth, "key").monthly == pytest.approx(only(full, "key").monthly / 10)
    assert charge(only(tenth, "zone"), "hosted zone").monthly == pytest.approx(US["route53ZoneMonth"])


def test_unknown_types_are_listed_as_not_priced_never_zero():
    document = plan(
        res("aws:ec2/natGateway:NatGateway", "nat"),
        res("aws:sagemaker/endpoint:Endpoint", "model"),
        res("mlapi:network:Vpc", "component"),
        res("pulumi:providers:aws", "aws"),
        res("aws:iam/role:Role", "role"),
    )
    est = priced(document)
    names = {r.resource.name: r.status for layer in est.layers for r in layer.resources}
    assert names == {"nat": "priced", "model": "not priced", "role": "free"}
    assert est.total == pytest.approx(only(est, "nat").monthly)
    table = format_table(est)
    assert "NOT PRICED (1)" in table and "aws:sagemaker/endpoint:Endpoint" in table and "plus 1 resource(s) not priced" in table
    assert to_document(est)["notPriced"] == [
        {"layer": "l", "name": "model", "type": "aws:sagemaker/endpoint:Endpoint", "reason": only(est, "model").note}
    ]


def test_resources_are_priced_in_their_providers_region():
    document = plan(
        res("pulumi:providers:aws", "global", region="us-east-1") | {"urn": "urn:p:global"},
        res("aws:kms/key:Key", "edge-key") | {"provider": "urn:p:global::id"},
        res("aws:ec2/natGateway:NatGateway", "nat"),
        region="eu-central-1",
    )
    est = priced(document)
    assert only(est, "edge-key").resource.region == "us-east-1"
    assert only(est, "nat").monthly == pytest.approx(HOURS * 0.052 + Usage().nat_gb * 0.052)


# --- regions, price table, usage file -----------------------------------------------------------


def test_region_without_prices_is_an_error_naming_the_covered_regions():
    with pytest.raises(ConfigError) as err:
        priced(plan(res("aws:ec2/natGateway:NatGateway", "nat"), region="sa-east-1"))
    message = str(err.value)
    assert "sa-east-1" in message
    for region in ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"):
        assert region in message


def test_price_table_is_dated_sourced_and_complete():
    assert TABLE.document["asOf"] and "list prices" in TABLE.document["description"] and TABLE.document["currency"] == "USD"
    for region in TABLE.regions:
        assert set(REGIONAL_KEYS) <= set(TABLE.document["regions"][region])


def test_price_table_records_how_each_price_was_checked():
    checked = TABLE.document["checked"]
    assert checked["on"] and "checked on" in TABLE.document["source"]
    regions = set(TABLE.regions)
    assert set(checked["regional"]) == set(REGIONAL_KEYS)
    for key, record in checked["regional"].items():
        confirmed, unconfirmed = set(record["confirmed"]), set(record["unconfirmed"])
        assert confirmed | unconfirmed == regions and not confirmed & unconfirmed, key
        assert not confirmed or record["sources"], f"{key} is confirmed without a source"
        assert set(record["sources"]) <= set(checked["sources"]), key
    assert set(checked["global"]) == set(GLOBAL_KEYS)
    for key, record in checked["global"].items():
        assert not record["confirmed"] or record["sources"], key
        assert set(record["sources"]) <= set(checked["sources"]), key


def test_fargate_spot_is_priced_at_the_documented_maximum_discount():
    # Spot has no list price; the table uses AWS's stated ceiling ("up to 70%" off), see docs/cost.md.
    for region in TABLE.regions:
        prices = TABLE.document["regions"][region]
        assert prices["fargateSpotVcpuHour"] == pytest.approx(0.3 * prices["fargateVcpuHour"]), region
        assert prices["fargateSpotGbHour"] == pytest.approx(0.3 * prices["fargateGbHour"]), region


def test_price_table_with_a_missing_price_is_refused(tmp_path):
    broken = json.loads(json.dumps(TABLE.document))
    del broken["regions"]["eu-west-1"]["natGatewayHour"]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(PlatformError, match=r"regions\.eu-west-1\.natGatewayHour"):
        load_table(path)


def test_usage_defaults_match_the_documented_assumptions():
    assert Usage().as_dict() == {a.key: a.default for a in ASSUMPTIONS}


def test_usage_file_nested_or_dotted(tmp_path):
    path = tmp_path / "usage.yaml"
    path.write_text("hoursPerMonth: 10\naurora:\n  averageAcus: 2\ndynamodb.storageGb: 7\n")
    usage = load_usage(path)
    assert (usage.hours_per_month, usage.aurora_acus, usage.dynamodb_storage_gb) == (10, 2, 7)
    assert usage.changed() == {"hoursPerMonth", "aurora.averageAcus", "dynamodb.storageGb"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hoursPerMonth: 800\n", ["usage.yaml: hoursPerMonth", "800", "from 0 to 744"]),
        ("aurora:\n  averageAcus: lots\n", ["usage.yaml: aurora.averageAcus", "'lots'", "a number"]),
        ("requestsPerMonth: true\n", ["usage.yaml: requestsPerMonth", "= true:", "a number"]),
        ("natGb: 5\n", ["usage.yaml: natGb", "natGbPerMonth"]),
        ("- 1\n- 2\n", ["usage.yaml", "a YAML mapping"]),
        ("a: [\n", ["usage.yaml", "not YAML"]),
    ],
    ids=["out-of-range", "not-a-number", "boolean", "unknown-key", "not-a-mapping", "not-yaml"],
)
def test_bad_usage_file_names_file_key_value_and_what_is_allowed(tmp_path, text, expected):
    path = tmp_path / "usage.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_usage(path)
    for part in expected:
        assert part in str(err.value)


def test_task_refuses_a_bad_usage_file_in_one_paragraph(tmp_path, run_invoke):
    plan_file = tmp_path / "p.json"
    plan_file.write_text(json.dumps(plan(res("aws:ec2/natGateway:NatGateway", "nat"))))
    usage = tmp_path / "u.yaml"
    usage.write_text("loadBalancerLcus: -1\n")
    run = run_invoke("cost", "--plan", str(plan_file), "--usage", str(usage))
    assert run.returncode == 2
    assert f"{usage}: loadBalancerLcus = -1" in run.stderr and "Traceback" not in run.stderr


def test_task_prices_a_plan_file_compares_and_writes_json(tmp_path, run_invoke):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(plan(res("aws:ec2/natGateway:NatGateway", "nat-0"))))
    pr = tmp_path / "pr.json"
    pr.write_text(json.dumps(plan(res("aws:ec2/natGateway:NatGateway", "nat-0"), res("aws:ec2/natGateway:NatGateway", "nat-1"))))
    out = tmp_path / "cost.json"
    run = run_invoke("cost", "--plan", str(pr), "--compare", str(base), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "+$32.85" in run.stdout and "[l] nat-1 (aws:ec2/natGateway:NatGateway) added" in run.stdout
    written = json.loads(out.read_text())
    assert written["comparison"]["delta"] == pytest.approx(HOURS * US["natGatewayHour"], abs=0.01)
    assert written["monthly"] == pytest.approx(2 * HOURS * US["natGatewayHour"] + 10 * US["natGatewayGb"], abs=0.01)


# --- comparing ----------------------------------------------------------------------------------


def test_compare_lists_added_removed_and_changed_resources():
    usage = Usage()
    before = priced(plan(res("aws:kms/key:Key", "old"), _service(), _task()), usage)
    after = priced(plan(res("aws:kms/key:Key", "new"), _service(desiredCount=3), _task()), usage)
    changes = {c.name: c for c in compare(before, after)}
    assert set(changes) == {"old", "new", "svc"}
    assert changes["old"].after is None and changes["new"].before is None
    assert changes["svc"].delta == pytest.approx(_fargate_cost(1, 0))
    text = format_comparison(before, after, "main.plan.json")
    assert f"Total: ${before.total:,.2f} -> ${after.total:,.2f}" in text


# --- Price List API refresh (recorded answers) --------------------------------------------------


class RecordedPricing:
    """Stands in for boto3's pricing client: answers get_products from recorded pages."""

    def __init__(self, pages: dict[str, list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def get_products(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        pages = self.pages.get(request["ServiceCode"], [{"FormatVersion": "aws_v1", "PriceList": []}])
        index = int(request.get("NextToken", "0"))
        return pages[index]


def _recorded() -> RecordedPricing:
    return RecordedPricing(json.loads((FIXTURES / "pricing_get_products.json").read_text()))


def test_refresh_reads_first_tier_on_demand_prices_and_follows_pages():
    client = _recorded()
    result = price_refresh.fetch_region(client, "eu-west-1")
    assert result.prices["natGatewayHour"] == 0.048
    assert result.prices["natGatewayGb"] == 0.049
    assert result.prices["fargateVcpuHour"] == 0.04456
    assert result.prices["fargateSpotVcpuHour"] == 0.0134  # on the second page
    assert result.prices["kmsRequests10k"] == pytest.approx(0.03)  # the API prices requests one by one
    assert result.prices["customMetricMonth"] == 0.3  # first tier, not the cheaper later tiers
    assert "albHour" in result.missing
    ecs = [c for c in client.calls if c["ServiceCode"] == "AmazonECS"]
    assert [c.get("NextToken") for c in ecs] == [None, "1"]
    assert all({"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"} in c["Filters"] for c in client.calls)


def test_refresh_applies_to_a_covered_region_and_keeps_what_the_api_did_not_give():
    result = price_refresh.fetch_region(_recorded(), "eu-west-1")
    document = price_refresh.apply(TABLE, result, today=lambda: __import__("datetime").date(2026, 3, 1))
    regions = document["regions"]
    assert regions["eu-west-1"]["natGatewayGb"] == 0.049
    assert regions["eu-west-1"]["albHour"] == TABLE.document["regions"]["eu-west-1"]["albHour"]
    assert document["refreshed"]["eu-west-1"]["asOf"] == "2026-03-01"
    assert "albHour" in document["refreshed"]["eu-west-1"]["source"]
    assert regions["us-east-1"] == TABLE.document["regions"]["us-east-1"]


def test_refresh_adds_a_new_region_only_with_every_price():
    result = price_refresh.fetch_region(_recorded(), "sa-east-1")
    with pytest.raises(PlatformError, match="sa-east-1"):
        price_refresh.apply(TABLE, result)


def test_refresh_without_credentials_says_what_is_needed(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(PlatformError, match="needs AWS credentials"):
        price_refresh.pricing_client()


# --- a real plan, and the documentation ---------------------------------------------------------


def test_default_environment_every_layer_priced_and_totals_add_up(default_plan):
    document = default_plan.document()
    est = priced(document)
    assert [layer.layer for layer in est.layers] == [layer["layer"] for layer in document["layers"]]
    assert all(layer.monthly > 0 for layer in est.layers)
    assert est.total == pytest.approx(sum(r.monthly for layer in est.layers for r in layer.resources))
    assert not est.with_status(NOT_PRICED), (
        "new resource kinds in the plan: price them in shared/cost/estimate.py (PRICERS or FREE_KINDS)"
    )
    written = to_document(est)
    assert {r["status"] for layer in written["layers"] for r in layer["resources"]} == {"priced", "free"}
    assert written["monthly"] == pytest.approx(sum(layer["monthly"] for layer in written["layers"]), abs=0.01 * len(est.layers))
    for layer in written["layers"]:
        assert layer["monthly"] == pytest.approx(
            sum(r["monthly"] for r in layer["resources"]), abs=0.005 * len(layer["resources"]) + 0.01
        )
    # Every cloud resource of the plan appears once: priced, free or not priced.
    clouds = [r for layer in document["layers"] for r in layer["resources"] if r["type"].startswith("aws:")]
    assert len(clouds) == sum(len(layer["resources"]) for layer in written["layers"])
    kinds = {r.resource.type for layer in est.layers for r in layer.resources if r.status == PRICED}
    assert {"aws:ec2/natGateway:NatGateway", "aws:ecs/service:Service", "aws:rds/clusterInstance:ClusterInstance"} <= kinds


def test_docs_quote_the_tasks_current_output(default_plan):
    quoted = quoted_blocks(DOC.read_text())
    assert set(quoted) == {name for name, _, _ in DOC_BLOCKS}, f"docs/cost.md lost its estimate markers: run `{REGENERATE}`"
    for name, env, protect in DOC_BLOCKS:
        document = (
            default_plan.document()
            if (env, protect, DOC_REGION) == ("demo", False, "us-east-1")
            else render_plan(env, DOC_REGION, protect=protect)
        )
        assert quoted[name] == doc_block(document), (
            f"docs/cost.md's {name} estimate differs from `invoke cost`: run `{REGENERATE}` and commit docs/cost.md"
        )


def test_network_interface_endpoints_priced_per_private_subnet():
    document = plan_layers("network", config={"network": {"interfaceEndpoints": "on"}}).document()
    est = priced(document)
    endpoints = [r for r in est.with_status(PRICED) if r.resource.type == "aws:ec2/vpcEndpoint:VpcEndpoint"]
    assert len(endpoints) == 4
    for endpoint in endpoints:
        azs = len(endpoint.resource.inputs["subnetIds"])
        assert azs >= 2
        assert charge(endpoint, "endpoint hours").quantity == azs * HOURS
