"""The output contract: every layer's export names, declared once.

A layer exports through :func:`export` (which refuses a missing or undeclared name) and a reader
reads through :class:`shared.references.Upstream` (which refuses a name its upstream does not
declare). Names are an API other tools rely on: add names, never rename or drop them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi

CONTRACTS: dict[str, dict[str, str]] = {
    "network": {
        "vpcId": "ID of the VPC.",
        "vpcCidr": "IPv4 CIDR block of the VPC.",
        "availabilityZones": "The three availability zones the subnets span, in subnet order.",
        "publicSubnetIds": "IDs of the public subnets (one per AZ), for the load balancer.",
        "privateSubnetIds": "IDs of the private subnets (one per AZ), for tasks and the database.",
        "privateRouteTableIds": "IDs of the private route tables (for more gateway endpoints).",
        "natGatewayIds": "IDs of the NAT gateways (one, or one per AZ).",
        "albSecurityGroupId": "Security group of the internet-facing load balancer.",
        "serviceSecurityGroupId": "Security group of the service's Fargate tasks.",
        "databaseSecurityGroupId": "Security group of the Aurora cluster.",
        "servicePort": "Container port the tasks listen on; the ALB->tasks rule opens only this port.",
        "databasePort": "PostgreSQL port; the tasks->database rule opens only this port.",
        "flowLogGroupName": "CloudWatch log group receiving the VPC flow logs.",
        "paymentsAlbSecurityGroupId": "Security group of the payments load balancer (production and test listener "
        "ingress), or an empty string when the environment has no payments layer.",
        "paymentsServiceSecurityGroupId": "Security group of the payments Fargate tasks (ingress only from the payments "
        "load balancer; the database admits it on its port), or an empty string without the payments layer.",
        "paymentsServicePort": "Container port of the payments tasks; the payments ALB->tasks rule opens only this port. "
        "0 when the environment has no payments layer.",
        "endpointSecurityGroupId": "Security group of the interface VPC endpoints (HTTPS from the service tasks only), "
        "or an empty string when interface endpoints are off.",
        "interfaceEndpointIds": "Map of AWS service (ecr.api, ecr.dkr, logs, secretsmanager) -> interface VPC endpoint id, "
        "one ENI per private subnet, private DNS on; an empty map when interface endpoints are off.",
    },
    "data": {
        "clusterEndpoint": "Writer endpoint of the Aurora cluster.",
        "readerEndpoint": "Reader endpoint of the Aurora cluster.",
        "databasePort": "Port the cluster listens on.",
        "databaseName": "Name of the application database.",
        "clusterIdentifier": "Aurora cluster identifier.",
        "clusterArn": "ARN of the Aurora cluster.",
        "masterSecretArn": "ARN of the RDS-managed master user secret (never its value).",
        "sessionTableName": "Name of the DynamoDB session table.",
        "sessionTableArn": "ARN of the DynamoDB session table.",
        "kmsKeyArn": "ARN of the layer's customer-managed KMS key (stores, secrets, log groups); the compute layer encrypts its log group, image repository and ECS Exec sessions with it.",
        "applicationSecretArns": "Map of name -> ARN of existing application secrets handed to the service.",
        "protected": "Whether the environment was rendered in protected (long-lived) mode.",
        "decommissioning": "Whether the protected environment is being decommissioned: deletion protection lifted, data kept.",
    },
    "compute": {
        "albDnsName": "DNS name of the application load balancer.",
        "albArn": "ARN of the application load balancer.",
        "albArnSuffix": "ARN suffix of the ALB (CloudWatch metric dimension).",
        "albZoneId": "Route 53 hosted zone id of the ALB (for alias records).",
        "httpListenerArn": "ARN of the HTTP listener.",
        "httpsListenerArn": "ARN of the HTTPS listener, or an empty string when no domain is configured.",
        "targetGroupArn": "ARN of the service's target group.",
        "clusterName": "Name of the ECS cluster.",
        "serviceName": "Name of the ECS service.",
        "taskDefinitionArn": "ARN of the task definition.",
        "logGroupName": "CloudWatch log group of the service containers.",
        "ecrRepositoryUrl": "URL of the service's ECR repository.",
        "originProtocol": "How CloudFront should reach the ALB: 'https' when it has a certificate, else 'http'.",
        "originHostname": "Hostname CloudFront should use for the ALB origin (covered by its certificate when https).",
    },
    "payments": {
        "vpcId": "ID of the VPC the payments service runs in (the network layer's).",
        "clusterName": "Name of the payments ECS cluster.",
        "clusterArn": "ARN of the payments ECS cluster.",
        "serviceName": "Name of the payments ECS service (deployment controller CODE_DEPLOY).",
        "ecrRepositoryUrl": "URL of the payments ECR repository (immutable tags; push, then release).",
        "albDnsName": "DNS name of the payments application load balancer.",
        "albArn": "ARN of the payments application load balancer.",
        "albArnSuffix": "ARN suffix of the payments ALB (CloudWatch metric dimension).",
        "productionListenerArn": "ARN of the production listener (80, or 443 with a domain); CodeDeploy moves it between target groups.",
        "testListenerArn": "ARN of the test listener, which serves the new version during a release before traffic moves.",
        "testListenerPort": "Port of the test listener: 8443 with HTTPS, 8080 without (an integer).",
        "blueTargetGroupArn": "ARN of the blue target group (the one the service was created with).",
        "greenTargetGroupArn": "ARN of the green target group.",
        "targetGroupArnSuffixes": "ARN suffixes of the target groups, [blue, green] (CloudWatch metric dimensions).",
        "logGroupName": "CloudWatch log group of the payments containers.",
        "logKmsKeyArn": "ARN of the payments layer's own KMS key (log group, ECS Exec, image registry).",
        "taskDefinitionArn": "ARN of the task definition as the layer declares it (a release builds on it, with its image).",
        "taskFamily": "Task definition family; a release registers a new revision in it.",
        "containerName": "Name of the container the load balancer routes to (for a release's AppSpec).",
        "containerPort": "Port that container listens on (for a release's AppSpec).",
        "databaseSecretArn": "ARN of the Secrets Manager secret the tasks read database credentials from (never its value).",
        "codedeployApplicationName": "Name of the CodeDeploy application (compute platform ECS).",
        "codedeployDeploymentGroupName": "Name of the CodeDeploy blue/green deployment group.",
        "serviceSubnetIds": "Subnets of the payments tasks (a release's AppSpec names them: the service ignores network changes).",
        "serviceSecurityGroupIds": "Security groups of the payments tasks (for a release's AppSpec).",
        "capacityProviderStrategy": "The tasks' Fargate/Fargate Spot split, [{capacityProvider, base, weight}] (for a release's "
        "AppSpec: CodeDeploy drops a strategy the AppSpec does not name).",
        "platformVersion": "Fargate platform version of the tasks (for a release's AppSpec).",
    },
    "edge": {
        "distributionId": "ID of the CloudFront distribution.",
        "distributionDomainName": "The distribution's *.cloudfront.net domain name.",
        "distributionUrl": "https:// URL of the site (custom domain, or the cloudfront.net name).",
        "siteHostname": "Hostname viewers use: the custom domain, or the cloudfront.net name with the default certificate.",
        "cloudfrontWebAclArn": "ARN of the CLOUDFRONT-scope WAF web ACL (us-east-1).",
        "regionalWebAclArn": "ARN of the REGIONAL WAF web ACL associated with the ALB.",
        "certificateMode": "'acm' (custom certificate) or 'cloudfront-default' (explicitly accepted for a throwaway environment).",
        "certificateArn": "ARN of the site's ACM certificate (us-east-1), or an empty string with the CloudFront default certificate.",
        "usedSampleDomain": "True when the offline plan rendered the shipped sample domain settings (a real run refuses them).",
        "errorPagesBucketName": "Private S3 bucket holding the custom 403/404 pages (read only by the distribution).",
        "cloudfrontWafLogGroupName": "CloudWatch log group (us-east-1) of the CLOUDFRONT web ACL's logs.",
        "regionalWafLogGroupName": "CloudWatch log group (environment region) of the REGIONAL web ACL's logs.",
        "originSecretVersion": "Version of the secret origin header's value (a rotation steps it by exactly 1; `up` refuses other steps).",
    },
}


def names(layer: str) -> frozenset[str]:
    """The export names ``layer`` declares."""
    try:
        return frozenset(CONTRACTS[layer])
    except KeyError:
        raise KeyError(f"no output contract for layer {layer!r}") from None


def check(layer: str, values: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``values`` has exactly the names the contract declares."""
    declared = names(layer)
    missing = sorted(declared - set(values))
    extra = sorted(set(values) - declared)
    if missing or extra:
        raise ValueError(
            f"layer {layer} exports do not match its contract in shared/contracts.py: "
            f"missing {missing or 'none'}, undeclared {extra or 'none'}"
        )


def export(layer: str, values: Mapping[str, Any]) -> None:
    """Export ``values`` as the stack outputs of ``layer`` after checking them against the contract."""
    check(layer, values)
    for key in CONTRACTS[layer]:
        pulumi.export(key, values[key])


def secret_variable(name: str) -> str:
    """The environment variable the compute layer injects the data layer's application secret
    ``name`` as (``model-api-key`` -> ``MODEL_API_KEY``). One rule for both sides: the data layer
    refuses names whose variables collide, the compute layer injects under these names."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()
