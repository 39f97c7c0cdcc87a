"""A healthy-looking deployed environment for `invoke verify`: AWS resources in moto named after an
offline plan's outputs, an outputs file whose identifiers are moto's, and an HTTP server on
127.0.0.1 standing in for CloudFront, the load balancer and the payments test listener.

Tests break one property at a time and expect exactly that check to fail.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from shared.deploy.outputs import flatten
from shared.verify.edge import ERROR_PAGE

REGION = "us-east-1"
ACCOUNT = "123456789012"
AZS = ("us-east-1a", "us-east-1b", "us-east-1c")


# -- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Behaviour:
    """How each HTTP stand-in answers; tests flip one field to break one check."""

    health: int = 200
    api_v1: int = 200
    api_v2: int = 200
    not_found_page: bool = True
    not_found_status: int = 404
    redirect: bool = True
    alb_status: int = 403
    test_listener: int = 200
    requests: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour
    role: str

    def do_GET(self) -> None:
        b = self.behaviour
        b.requests.append(f"{self.role} {self.path}")
        path = self.path.split("?", 1)[0]
        if self.role == "site-http":
            if b.redirect:
                return self._send(301, "", {"Location": f"https://site.example{path}"})
            return self._send(200, "{}")
        if self.role == "alb":
            return self._send(b.alb_status, "{}")
        if self.role == "payments-test-listener":
            return self._send(b.test_listener, "{}")
        if path == "/health":
            return self._send(b.health, '{"status":"ok"}')
        if path.startswith(("/api/v1/", "/api/v2/")):
            return self._send(b.api_v1 if path.startswith("/api/v1/") else b.api_v2, '{"placeholder":true}')
        body = ERROR_PAGE.read_text() if b.not_found_page else "<html><body>Not Found</body></html>"
        return self._send(b.not_found_status, body, {"Content-Type": "text/html"})

    def _send(self, status: int, body: str, headers: Mapping[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Servers:
    behaviour: Behaviour
    urls: dict[str, str]
    _servers: list[ThreadingHTTPServer]

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


def serve() -> Servers:
    """One server per HTTP target on 127.0.0.1 (ephemeral ports)."""
    behaviour = Behaviour()
    servers, urls = [], {}
    for role in ("site", "site-http", "alb", "payments-test-listener"):
        handler = type(f"Handler_{role}", (_Handler,), {"behaviour": behaviour, "role": role})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # shutdown() waits for the loop's next poll (every 0.5 s by default): a second per module for four servers.
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        urls[role] = f"http://127.0.0.1:{server.server_address[1]}"
    return Servers(behaviour, urls, servers)


# -- AWS (inside mock_aws) ----------------------------------------------------------------------


_CLIENTS: dict[tuple[str, str], Any] = {}


def client(service: str, region: str = REGION) -> Any:
    """A cached boto3 client (creating one costs ~0.2 s). moto intercepts requests, not clients,
    so one client serves every test's fresh ``mock_aws`` backend."""
    import moto  # noqa: F401  (moto's request hook must be registered before the client exists)

    if (service, region) not in _CLIENTS:
        _CLIENTS[(service, region)] = boto3.client(service, region_name=region)
    return _CLIENTS[(service, region)]


def _client(service: str) -> Any:
    return client(service)


def _log_group(name: str, *, kms: str | None = None, retention: int = 30, events: bool = True) -> None:
    logs = _client("logs")
    logs.create_log_group(logGroupName=name, **({"kmsKeyId": kms} if kms else {}))
    logs.put_retention_policy(logGroupName=name, retentionInDays=retention)
    if events:
        logs.create_log_stream(logGroupName=name, logStreamName="api/app/0")
        logs.put_log_events(
            logGroupName=name, logStreamName="api/app/0", logEvents=[{"timestamp": int(time.time() * 1000), "message": "started"}]
        )


def _network(net: dict[str, Any]) -> dict[str, Any]:
    ec2 = _client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # as the network layer sets it
    private = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i * 64}.0/18", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for i, az in enumerate(AZS)
    ]
    public = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{192 + i * 16}.0/20", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for i, az in enumerate(AZS)
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for service in ("s3", "dynamodb"):
        ec2.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.{service}", VpcEndpointType="Gateway", RouteTableIds=[table]
        )
    sg = ec2.create_security_group(GroupName="svc", Description="service", VpcId=vpc)["GroupId"]
    _log_group(net["flowLogGroupName"])
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogGroupName=net["flowLogGroupName"],
        DeliverLogsPermissionArn=f"arn:aws:iam::{ACCOUNT}:role/flow-logs",
    )
    return {
        **net,
        "vpcId": vpc,
        "privateSubnetIds": private,
        "publicSubnetIds": public,
        "serviceSecurityGroupId": sg,
        "availabilityZones": list(AZS),
    }


INTERFACE_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


def interface_endpoint(net: Mapping[str, Any], service: str) -> str:
    return str(
        _client("ec2").create_vpc_endpoint(
            VpcId=net["vpcId"],
            ServiceName=f"com.amazonaws.{REGION}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=net["privateSubnetIds"],
            SecurityGroupIds=[net["endpointSecurityGroupId"]],
            PrivateDnsEnabled=True,
        )["VpcEndpoint"]["VpcEndpointId"]
    )


def _interface_endpoints(net: Mapping[str, Any]) -> dict[str, Any]:
    """The payments layer's interface endpoints, as the network layer creates them with payments."""
    group = _client("ec2").create_security_group(GroupName="endpoints", Description="endpoints", VpcId=net["vpcId"])["GroupId"]
    with_group = {**net, "endpointSecurityGroupId": group}
    return {
        "endpointSecurityGroupId": group,
        "interfaceEndpointIds": {s: interface_endpoint(with_group, s) for s in INTERFACE_SERVICES},
    }


def _data(data: dict[str, Any]) -> dict[str, Any]:
    key = _client("kms").create_key(Description="data")["KeyMetadata"]["Arn"]
    rds = _client("rds")
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=data["clusterIdentifier"],
        Engine="aurora-postgresql",
        EngineVersion="16.6",
        MasterUsername="mlapi_admin",
        MasterUserPassword="not-a-real-password-0",
        StorageEncrypted=True,
        KmsKeyId=key,
        ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 2},
        DeletionProtection=bool(data["protected"]) and not bool(data["decommissioning"]),
        DatabaseName=data["databaseName"],
    )["DBCluster"]
    secrets = _client("secretsmanager")
    secret = secrets.create_secret(Name=f"rds!cluster-{data['clusterIdentifier']}", SecretString="{}", KmsKeyId=key)["ARN"]
    secrets.rotate_secret(SecretId=secret, RotationRules={"AutomaticallyAfterDays": 7})
    ddb = _client("dynamodb")
    table = ddb.create_table(
        TableName=data["sessionTableName"],
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "sessionId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sessionId", "AttributeType": "S"}],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
    )["TableDescription"]
    ddb.update_time_to_live(
        TableName=data["sessionTableName"], TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    ddb.update_continuous_backups(
        TableName=data["sessionTableName"], PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return {
        **data,
        "kmsKeyArn": key,
        "clusterArn": cluster["DBClusterArn"],
        "clusterEndpoint": cluster["Endpoint"],
        "masterSecretArn": secret,
        "sessionTableArn": table["TableArn"],
    }


def _service(layer: str, names: Mapping[str, Any], net: Mapping[str, Any], *, log_key: str, target_groups: int) -> dict[str, Any]:
    """An ECS service on Fargate/Fargate Spot behind an ALB, scaled, alarmed, logging, with a scanned repository."""
    ecr = _client("ecr")
    repo_name = str(names["ecrRepositoryUrl"]).split("/", 1)[1]
    repo = ecr.create_repository(repositoryName=repo_name, imageScanningConfiguration={"scanOnPush": True})["repository"]
    elb = _client("elbv2")
    alb = elb.create_load_balancer(Name=f"{layer[:4]}-alb", Subnets=net["publicSubnetIds"], Type="application")["LoadBalancers"][
        0
    ]
    groups = [
        elb.create_target_group(Name=f"{layer[:4]}-tg-{i}", Protocol="HTTP", Port=8080, VpcId=net["vpcId"], TargetType="ip")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for i in range(target_groups)
    ]
    listener = elb.create_listener(
        LoadBalancerArn=alb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}],
    )["Listeners"][0]["ListenerArn"]
    ecs = _client("ecs")
    cluster, service = names["clusterName"], names["serviceName"]
    strategy = [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 3},
    ]
    cluster_arn = ecs.create_cluster(
        clusterName=cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=strategy
    )["cluster"]["clusterArn"]
    family = names.get("taskFamily", service)
    task_def = ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        containerDefinitions=[
            {
                "name": names.get("containerName", "api"),
                "image": f"{repo['repositoryUri']}:1",
                "memory": 1024,
                "portMappings": [{"containerPort": 8080}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition=task_def,
        desiredCount=2,
        capacityProviderStrategy=strategy,
        loadBalancers=[{"targetGroupArn": groups[0], "containerName": names.get("containerName", "api"), "containerPort": 8080}],
        **({"deploymentController": {"type": "CODE_DEPLOY"}} if layer == "payments" else {}),
    )
    for i, (subnet, provider) in enumerate(zip(net["privateSubnetIds"][:2], ("FARGATE", "FARGATE_SPOT"), strict=True)):
        ecs.run_task(
            cluster=cluster,
            taskDefinition=task_def,
            count=1,
            capacityProviderStrategy=[{"capacityProvider": provider, "weight": 1}],
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [net["serviceSecurityGroupId"]]}
            },
            startedBy=f"ecs-svc/{service}",
        )
        elb.register_targets(TargetGroupArn=groups[0], Targets=[{"Id": f"10.0.{i * 64}.10", "Port": 8080}])
    scaling = _client("application-autoscaling")
    resource = f"service/{cluster}/{service}"
    scaling.register_scalable_target(
        ServiceNamespace="ecs", ResourceId=resource, ScalableDimension="ecs:service:DesiredCount", MinCapacity=2, MaxCapacity=10
    )
    scaling.put_scaling_policy(
        PolicyName=f"{service}-requests-per-task",
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 1000.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        },
    )
    _client("cloudwatch").put_metric_alarm(
        AlarmName=f"{service}-cpu-high",
        Namespace="AWS/ECS",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=3,
        Threshold=80.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    _log_group(names["logGroupName"], kms=log_key)
    return {
        **names,
        "albArn": alb["LoadBalancerArn"],
        "albDnsName": alb["DNSName"],
        "albArnSuffix": alb["LoadBalancerArn"].split(":loadbalancer/", 1)[1],
        "ecrRepositoryUrl": repo["repositoryUri"],
        "clusterArn": cluster_arn,
        "taskDefinitionArn": task_def,
        "target_groups": groups,
        "listener": listener,
    }


def _compute(names: dict[str, Any], net: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    built = _service("compute", names, net, log_key=data["kmsKeyArn"], target_groups=1)
    groups, listener = built.pop("target_groups"), built.pop("listener")
    built.pop("clusterArn")
    return {
        **built,
        "targetGroupArn": groups[0],
        "httpListenerArn": listener,
        "originProtocol": "http",
        "originHostname": built["albDnsName"],
    }


def _payments(names: dict[str, Any], net: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    key = _client("kms").create_key(Description="payments logs")["KeyMetadata"]["Arn"]
    built = _service("payments", names, net, log_key=key, target_groups=2)
    blue, green = built.pop("target_groups")
    production = built.pop("listener")
    codedeploy = _client("codedeploy")
    codedeploy.create_application(applicationName=names["codedeployApplicationName"], computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName=names["codedeployApplicationName"],
        deploymentGroupName=names["codedeployDeploymentGroupName"],
        serviceRoleArn=f"arn:aws:iam::{ACCOUNT}:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        ecsServices=[{"serviceName": names["serviceName"], "clusterName": names["clusterName"]}],
    )
    suffix = [arn.split(":", 5)[-1] for arn in (blue, green)]
    return {
        **built,
        "vpcId": net["vpcId"],
        "productionListenerArn": production,
        "testListenerArn": production.replace("/", "/test-", 1),
        "blueTargetGroupArn": blue,
        "greenTargetGroupArn": green,
        "targetGroupArnSuffixes": suffix,
        "logKmsKeyArn": key,
        "databaseSecretArn": data["masterSecretArn"],
    }


def _edge(edge: dict[str, Any], compute: Mapping[str, Any]) -> dict[str, Any]:
    waf = _client("wafv2")
    acl = {
        "DefaultAction": {"Allow": {}},
        "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"},
    }
    cloudfront_acl = waf.create_web_acl(Name="cf-acl", Scope="CLOUDFRONT", **acl)["Summary"]["ARN"]
    regional_acl = waf.create_web_acl(Name="alb-acl", Scope="REGIONAL", **acl)["Summary"]["ARN"]
    waf.associate_web_acl(WebACLArn=regional_acl, ResourceArn=compute["albArn"])
    distribution = _client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": "verify-world",
            "Comment": "",
            "Enabled": True,
            "WebACLId": cloudfront_acl,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "alb",
                        "DomainName": compute["albDnsName"],
                        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"},
                    }
                ],
            },
            "DefaultCacheBehavior": {"TargetOriginId": "alb", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0},
        }
    )["Distribution"]
    return {
        **edge,
        "distributionId": distribution["Id"],
        "distributionDomainName": distribution["DomainName"],
        "cloudfrontWebAclArn": cloudfront_acl,
        "regionalWebAclArn": regional_acl,
    }


def build(plan_outputs: Mapping[str, Mapping[str, Any]], *, payments: bool = True) -> dict[str, Any]:
    """Create the environment in moto from the plan's outputs (payments too when ``payments``);
    return the flat outputs file content, flattened as `invoke outputs` writes it."""
    net = _network(dict(plan_outputs["network"]))
    data = _data(dict(plan_outputs["data"]))
    compute = _compute(dict(plan_outputs["compute"]), net, data)
    edge = _edge(dict(plan_outputs["edge"]), compute)
    by_layer: dict[str, dict[str, Any]] = {"network": net, "data": data, "compute": compute, "edge": edge}
    if payments:
        by_layer["payments"] = _payments(dict(plan_outputs["payments"]), net, data)
        net.update(_interface_endpoints(net))
    return flatten(by_layer).values


def iter_rows(report_text: str) -> Iterator[tuple[str, str, str]]:
    for line in report_text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] in ("PASS", "FAIL"):
            yield parts[0], parts[1], parts[2]


def dump(path: Any, flat: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(flat, indent=2, sort_keys=True))
