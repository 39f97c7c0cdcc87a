"""The flat outputs file: snake_case and seed alias names next to the layer-prefixed ones."""

from __future__ import annotations

import pytest

from shared.deploy.outputs import SEED_ALIASES, flatten, layer_outputs, read, region_of, snake_case
from shared.errors import PlatformError


@pytest.mark.parametrize(
    ("name", "snake"),
    [("albDnsName", "alb_dns_name"), ("vpcId", "vpc_id"), ("albArnSuffix", "alb_arn_suffix"), ("protected", "protected")],
)
def test_snake_case(name, snake):
    assert snake_case(name) == snake


def test_every_plain_name_also_appears_in_snake_case_with_the_same_value():
    flat = flatten({"network": {"vpcId": "vpc-1", "publicSubnetIds": ["a", "b"]}, "data": {"protected": False}}).values
    assert flat["vpc_id"] == "vpc-1" and flat["public_subnet_ids"] == ["a", "b"]
    assert flat["protected"] is False and "network.vpc_id" not in flat


def test_the_seed_names_map_to_the_layer_that_owns_them(default_plan):
    # the ML API's layers, as the seeds' single stack had them (payments' collisions: the test below)
    ml_api = ("network", "data", "compute", "edge")
    by_layer = {layer["layer"]: layer["outputs"] for layer in default_plan.document()["layers"] if layer["layer"] in ml_api}
    flat = flatten(by_layer).values
    assert flat["cloudfront_distribution_url"] == by_layer["edge"]["distributionUrl"]
    assert flat["cloudfront_domain_name"] == by_layer["edge"]["distributionDomainName"]
    assert flat["rds_cluster_endpoint"] == by_layer["data"]["clusterEndpoint"]
    assert flat["dynamodb_table_name"] == by_layer["data"]["sessionTableName"]
    assert flat["alb_dns_name"] == flat["load_balancer_dns"] == by_layer["compute"]["albDnsName"]
    assert flat["ecs_cluster_name"] == by_layer["compute"]["clusterName"]
    assert flat["ecs_service_name"] == by_layer["compute"]["serviceName"]
    assert flat["ecr_repository_url"] == flat["ecr_repository_uri"] == by_layer["compute"]["ecrRepositoryUrl"]
    assert flat["db_secret_arn"] == by_layer["data"]["masterSecretArn"]
    assert flat["target_group_arn"] == by_layer["compute"]["targetGroupArn"]
    assert flat["task_definition_arn"] == by_layer["compute"]["taskDefinitionArn"]
    # data's clusterArn is the Aurora cluster: it never becomes the ECS cluster's ARN
    assert "ecs_cluster_arn" not in flat
    assert set(SEED_ALIASES) - {"ecs_cluster_arn"} <= set(flat)


def test_names_two_layers_export_differently_keep_only_their_prefixed_keys():
    result = flatten(
        {
            "data": {"clusterArn": "arn:aws:rds:eu-west-1:1:cluster:db", "masterSecretArn": "arn:s1"},
            "compute": {"clusterName": "mlapi-cluster-t", "albDnsName": "a.elb"},
            "payments": {
                "clusterName": "mlapi-payments-t",
                "clusterArn": "arn:aws:ecs:eu-west-1:1:cluster/p",
                "albDnsName": "p.elb",
                "databaseSecretArn": "arn:s1",
            },
        }
    )
    flat = result.values
    for name in ("cluster_name", "ecs_cluster_name", "load_balancer_dns", "alb_dns_name", "cluster_arn", "clusterName"):
        assert name not in flat, name
    assert result.ambiguous["ecs_cluster_name"] == ["compute.clusterName", "payments.clusterName"]
    assert flat["ecs_cluster_arn"] == "arn:aws:ecs:eu-west-1:1:cluster/p"
    assert flat["db_secret_arn"] == "arn:s1"  # both sources agree


def test_read_layer_outputs_and_region(tmp_path):
    with pytest.raises(PlatformError, match="invoke outputs"):
        read(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(PlatformError, match="one JSON object"):
        read(tmp_path / "bad.json")
    flat = {
        "edge.cloudfrontWebAclArn": "arn:aws:wafv2:us-east-1:111122223333:global/webacl/x/1",
        "compute.albArn": "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/a/1",
        "compute.clusterName": "c",
    }
    assert layer_outputs(flat, "compute") == {"albArn": flat["compute.albArn"], "clusterName": "c"}
    assert region_of(flat) == "eu-west-1"  # CloudFront's us-east-1 pin is not the environment's region
    assert region_of({"edge.cloudfrontWebAclArn": flat["edge.cloudfrontWebAclArn"]}) is None
