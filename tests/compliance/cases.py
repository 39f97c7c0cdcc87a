"""Every rule's cases: a passing and a failing hand-made fragment (CASES), further failing branches
(MORE_FAILING_CASES), and one setting broken in the real default plan (MUTATIONS)."""

from __future__ import annotations

from typing import Any

from shared.aws_types import (
    CODEDEPLOY_DEPLOYMENT_GROUP,
    DISTRIBUTION,
    DYNAMODB_TABLE,
    ECR_REPOSITORY,
    ECS_SERVICE,
    IAM_ROLE_POLICY,
    KMS_KEY,
    LB,
    LISTENER,
    LOG_GROUP,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    SECRETS_MANAGER_SECRET,
    SECURITY_GROUP,
    SG_EGRESS,
    SG_INGRESS,
    SUBNET,
    TASK_DEFINITION,
    VPC,
    VPC_ENDPOINT,
    WEB_ACL,
)

from .support import (
    ACCOUNT,
    GOOD_CERT,
    HTTP_FORWARD,
    HTTP_REDIRECT,
    HTTPS,
    HTTPS_BEHAVIOR,
    HTTPS_FROM_TASKS,
    KEY_ARN,
    LB_ARN,
    NOTHING,
    _append,
    _container,
    _edit_json,
    _find,
    _find_in,
    _https_listener,
    _public_db_subnets,
    _remove,
    _statement,
    _unguarded_service_statement,
    _world_open_service_port,
    cluster,
    code_deploy_service,
    containers,
    deployment_group,
    egress_case,
    endpoint_network,
    exposed_test_listener,
    interface_endpoint,
    lb_with,
    network,
    policy_json,
    res,
    world_ingress,
)

# rule id -> (passing fragment, failing fragment, text the failure must contain, protect)
CASES: dict[str, tuple[list[dict], list[dict], str, bool]] = {
    "kms-key-rotation": (
        [res(KMS_KEY, "k", {"enableKeyRotation": True})],
        [res(KMS_KEY, "k", {"enableKeyRotation": False})],
        "rotation is off",
        False,
    ),
    "kms-key-not-public": (
        [
            res(
                KMS_KEY,
                "k",
                {
                    "enableKeyRotation": True,
                    "policy": policy_json(
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "*"},
                            "Action": "kms:Decrypt",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}},
                        }
                    ),
                },
            )
        ],
        [
            res(
                KMS_KEY,
                "k",
                {
                    "enableKeyRotation": True,
                    "policy": policy_json(
                        {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
                    ),
                },
            )
        ],
        "'Open' allows Principal '*'",
        False,
    ),
    "aurora-encrypted-cmk": (
        [res(RDS_CLUSTER, "db", {"storageEncrypted": True, "kmsKeyId": KEY_ARN})],
        [res(RDS_CLUSTER, "db", {"storageEncrypted": True})],
        "customer-managed",
        False,
    ),
    "dynamodb-encrypted-cmk": (
        [res(DYNAMODB_TABLE, "t", {"serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN}})],
        [res(DYNAMODB_TABLE, "t", {})],
        "not enabled",
        False,
    ),
    "secret-encrypted-cmk": (
        [res(SECRETS_MANAGER_SECRET, "s", {"kmsKeyId": KEY_ARN})],
        [res(SECRETS_MANAGER_SECRET, "s", {"kmsKeyId": "alias/aws/secretsmanager"})],
        "AWS-managed key",
        False,
    ),
    "log-group-encrypted-cmk": (
        [res(LOG_GROUP, "lg", {"kmsKeyId": KEY_ARN})],
        [res(LOG_GROUP, "lg", {"retentionInDays": 7})],
        "customer-managed",
        False,
    ),
    "log-group-retention": (
        [res(LOG_GROUP, "lg", {"retentionInDays": 30})],
        [res(LOG_GROUP, "lg", {"retentionInDays": 0})],
        "forever",
        False,
    ),
    "database-not-public": (
        [res(RDS_CLUSTER_INSTANCE, "i", {"publiclyAccessible": False})],
        [res(RDS_CLUSTER_INSTANCE, "i", {"publiclyAccessible": True})],
        "publiclyAccessible",
        False,
    ),
    "database-in-private-subnets": (network(public_db_subnet=False), network(public_db_subnet=True), "internet gateway", False),
    "rds-managed-master-password": (
        [res(RDS_CLUSTER, "db", {"manageMasterUserPassword": True})],
        [res(RDS_CLUSTER, "db", {"masterPassword": "hunter2"})],
        "masterPassword is set",
        False,
    ),
    "aurora-deletion-protection": (
        [res(RDS_CLUSTER, "db", {"deletionProtection": True})],
        [res(RDS_CLUSTER, "db", {"deletionProtection": False})],
        "deletionProtection",
        True,
    ),
    "aurora-final-snapshot": (
        [res(RDS_CLUSTER, "db", {"skipFinalSnapshot": False, "finalSnapshotIdentifier": "mlapi-final-demo"})],
        [res(RDS_CLUSTER, "db", {"skipFinalSnapshot": True})],
        "loses its data",
        True,
    ),
    "aurora-multi-az": (cluster(2), cluster(1), "1 instance(s)", True),
    "dynamodb-deletion-protection": (
        [res(DYNAMODB_TABLE, "t", {"deletionProtectionEnabled": True})],
        [res(DYNAMODB_TABLE, "t", {})],
        "deletionProtectionEnabled",
        True,
    ),
    "dynamodb-point-in-time-recovery": (
        [res(DYNAMODB_TABLE, "t", {"pointInTimeRecovery": {"enabled": True}})],
        [res(DYNAMODB_TABLE, "t", {"pointInTimeRecovery": {"enabled": False}})],
        "recovery is off",
        True,
    ),
    "ephemeral-destroyable": (
        [res(LB, "lb", {"enableDeletionProtection": False}, layer="compute")],
        [res(LB, "lb", {"enableDeletionProtection": True}, layer="compute")],
        "`pulumi destroy` fails",
        False,
    ),
    "secret-rotation": (
        [
            res(SECRETS_MANAGER_SECRET, "s", {"name": "mlapi-app-demo"}, state={"arn": "arn:secret:s"}),
            res("aws:secretsmanager/secretRotation:SecretRotation", "r", {"secretId": "arn:secret:s"}),
        ],
        [res(SECRETS_MANAGER_SECRET, "s", {"name": "mlapi-app-demo"}, state={"arn": "arn:secret:s"})],
        "no SecretRotation",
        False,
    ),
    "subnet-no-auto-public-ip": (
        [res(SUBNET, "s", {"mapPublicIpOnLaunch": False}, layer="network")],
        [res(SUBNET, "s", {"mapPublicIpOnLaunch": True}, layer="network")],
        "mapPublicIpOnLaunch",
        False,
    ),
    "sg-no-world-ingress": (world_ingress(443), world_ingress(22), "port 22 is open to 0.0.0.0/0", False),
    "sg-egress-restricted": (
        [
            *egress_case("service-sg", "-", protocol="tcp", port=5432, referencedSecurityGroupId="sg-db"),
            *egress_case("service-sg", "https", protocol="tcp", port=443, cidrIpv4="0.0.0.0/0"),
            *egress_case("alb-sg", "-", protocol="tcp", port=8080, prefixListId="pl-0abc"),
        ],
        egress_case("alb-sg", "-", protocol="-1", port=None, cidrIpv4="0.0.0.0/0"),
        "every protocol and port to 0.0.0.0/0: never allowed",
        False,
    ),
    "sg-rule-descriptions": (
        [
            res(
                SECURITY_GROUP,
                "sg",
                {"description": "ALB", "ingress": [{"description": "clients", "fromPort": 443}]},
                layer="network",
            )
        ],
        [
            res(SECURITY_GROUP, "sg", {"description": "ALB"}, layer="network"),
            res(SG_INGRESS, "in", {"ipProtocol": "tcp"}, layer="network"),
        ],
        "no description",
        False,
    ),
    "default-sg-closed": (
        [
            res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"}),
            res(
                "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                "default",
                {"vpcId": "vpc-1", "ingress": [], "egress": []},
                layer="network",
            ),
        ],
        [res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"})],
        "keeps AWS's allow rules",
        False,
    ),
    "vpc-flow-logs": (
        [
            res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"}),
            res("aws:ec2/flowLog:FlowLog", "fl", {"vpcId": "vpc-1", "trafficType": "ALL"}, layer="network"),
        ],
        [res(VPC, "vpc", {}, layer="network", state={"id": "vpc-1"})],
        "no flow log",
        False,
    ),
    "task-no-public-ip": (
        [res("aws:ecs/service:Service", "svc", {"networkConfiguration": {"assignPublicIp": False}}, layer="compute")],
        [res("aws:ecs/service:Service", "svc", {"networkConfiguration": {"assignPublicIp": True}}, layer="compute")],
        "assignPublicIp",
        False,
    ),
    "vpc-endpoint-private-dns": (
        [interface_endpoint()],
        [interface_endpoint(privateDnsEnabled=False)],
        "privateDnsEnabled is not true",
        False,
    ),
    "vpc-endpoint-sg-https-only": (
        endpoint_network(HTTPS_FROM_TASKS, {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "10.0.0.0/16"}),
        endpoint_network({"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"}),
        "admits 0.0.0.0/0",
        False,
    ),
    "vpc-endpoint-in-private-subnets": (
        endpoint_network(HTTPS_FROM_TASKS),
        endpoint_network(HTTPS_FROM_TASKS, public_subnet=True),
        "internet gateway",
        False,
    ),
    "vpc-endpoint-policy-scoped": (
        [
            interface_endpoint(
                policy=policy_json(
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "ecr:BatchGetImage",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
                    }
                )
            )
        ],
        [
            interface_endpoint(
                policy=policy_json({"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})
            )
        ],
        "'Anyone' allows Principal '*'",
        False,
    ),
    "alb-drop-invalid-headers": (
        [res(LB, "lb", {"dropInvalidHeaderFields": True}, layer="compute")],
        [res(LB, "lb", {}, layer="compute")],
        "dropInvalidHeaderFields",
        False,
    ),
    "alb-https-redirect": (lb_with(HTTPS, HTTP_REDIRECT), lb_with(HTTPS, HTTP_FORWARD), "serves plain HTTP", False),
    "alb-tls-policy": (
        [res(LISTENER, "l", HTTPS, layer="compute")],
        [res(LISTENER, "l", {**HTTPS, "sslPolicy": "ELBSecurityPolicy-2016-08"}, layer="compute")],
        "older than 1.2",
        False,
    ),
    "alb-behind-waf": (
        [*lb_with(), res("aws:wafv2/webAclAssociation:WebAclAssociation", "assoc", {"resourceArn": LB_ARN}, layer="edge")],
        lb_with(),
        "not behind a WAF",
        False,
    ),
    "alb-deletion-protection": (
        [res(LB, "lb", {"enableDeletionProtection": True}, layer="compute")],
        [res(LB, "lb", {}, layer="compute")],
        "enableDeletionProtection",
        True,
    ),
    "alb-internet-facing-https": (
        lb_with(HTTPS, HTTP_REDIRECT),
        lb_with(HTTP_FORWARD),
        "no HTTPS listener: clients reach it over plain HTTP",
        True,
    ),
    "cloudfront-https-viewers": (
        [res(DISTRIBUTION, "cdn", {"defaultCacheBehavior": HTTPS_BEHAVIOR}, layer="edge")],
        [res(DISTRIBUTION, "cdn", {"defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"}}, layer="edge")],
        "allows plain HTTP",
        False,
    ),
    "cloudfront-custom-certificate": (
        [res(DISTRIBUTION, "cdn", {"viewerCertificate": GOOD_CERT}, layer="edge")],
        [res(DISTRIBUTION, "cdn", {"viewerCertificate": {"cloudfrontDefaultCertificate": True}}, layer="edge")],
        "default *.cloudfront.net",
        True,
    ),
    "cloudfront-tls12": (
        [res(DISTRIBUTION, "cdn", {"viewerCertificate": GOOD_CERT}, layer="edge")],
        [res(DISTRIBUTION, "cdn", {"viewerCertificate": {**GOOD_CERT, "minimumProtocolVersion": "TLSv1_2016"}}, layer="edge")],
        "older than 1.2",
        False,
    ),
    "cloudfront-waf": (
        [res(DISTRIBUTION, "cdn", {"webAclId": "arn:aws:wafv2:us-east-1:1:global/webacl/x/y"}, layer="edge")],
        [res(DISTRIBUTION, "cdn", {}, layer="edge")],
        "not behind a WAF",
        False,
    ),
    "cloudfront-origin-https": (
        [
            res(
                DISTRIBUTION,
                "cdn",
                {
                    "origins": [
                        {
                            "originId": "alb",
                            "customOriginConfig": {"originProtocolPolicy": "https-only", "originSslProtocols": ["TLSv1.2"]},
                        }
                    ]
                },
                layer="edge",
            )
        ],
        [
            res(
                DISTRIBUTION,
                "cdn",
                {"origins": [{"originId": "alb", "customOriginConfig": {"originProtocolPolicy": "http-only"}}]},
                layer="edge",
            )
        ],
        "originProtocolPolicy=http-only",
        True,
    ),
    "waf-has-rules": (
        [res(WEB_ACL, "acl", {"rules": [{"name": "common"}]}, layer="edge")],
        [res(WEB_ACL, "acl", {"rules": []}, layer="edge")],
        "no rules",
        False,
    ),
    "waf-logging": (
        [
            res(WEB_ACL, "acl", {}, layer="edge", state={"arn": "arn:acl"}),
            res(
                "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "log", {"resourceArn": "arn:acl"}, layer="edge"
            ),
        ],
        [res(WEB_ACL, "acl", {}, layer="edge", state={"arn": "arn:acl"})],
        "not recorded",
        False,
    ),
    "iam-no-wildcard-actions": (
        [
            res(
                IAM_ROLE_POLICY,
                "p",
                {"policy": policy_json({"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": ["arn:log"]})},
            )
        ],
        [
            res(
                IAM_ROLE_POLICY,
                "p",
                {"policy": policy_json({"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": ["arn:b"]})},
            )
        ],
        "allows s3:*",
        False,
    ),
    "iam-no-wildcard-resource": (
        [
            res(
                IAM_ROLE_POLICY,
                "p",
                {
                    "policy": policy_json({"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}),
                },
            )
        ],
        [
            res(
                IAM_ROLE_POLICY,
                "p",
                {"policy": policy_json({"Sid": "Read", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"})},
            )
        ],
        "dynamodb:GetItem on Resource '*'",
        False,
    ),
    "ecs-distinct-task-roles": (
        [res(TASK_DEFINITION, "td", {"taskRoleArn": "arn:role/task", "executionRoleArn": "arn:role/exec"}, layer="compute")],
        [res(TASK_DEFINITION, "td", {"taskRoleArn": "arn:role/one", "executionRoleArn": "arn:role/one"}, layer="compute")],
        "same role",
        False,
    ),
    "ecs-container-insights": (
        [res("aws:ecs/cluster:Cluster", "c", {"settings": [{"name": "containerInsights", "value": "enabled"}]}, layer="compute")],
        [res("aws:ecs/cluster:Cluster", "c", {}, layer="compute")],
        "not enabled",
        False,
    ),
    "ecs-container-logging": (
        [res(TASK_DEFINITION, "td", {"containerDefinitions": containers()}, layer="compute")],
        [res(TASK_DEFINITION, "td", {"containerDefinitions": containers(logConfiguration=None)}, layer="compute")],
        "no logConfiguration",
        False,
    ),
    "ecs-no-secrets-in-environment": (
        [res(TASK_DEFINITION, "td", {"containerDefinitions": containers()}, layer="compute")],
        [
            res(
                TASK_DEFINITION,
                "td",
                {"containerDefinitions": containers(environment=[{"name": "DB_PASSWORD", "value": "hunter2"}])},
                layer="compute",
            )
        ],
        "DB_PASSWORD looks like a credential",
        False,
    ),
    "ecs-readonly-root-filesystem": (
        [res(TASK_DEFINITION, "td", {"containerDefinitions": containers()}, layer="compute")],
        [res(TASK_DEFINITION, "td", {"containerDefinitions": containers(readonlyRootFilesystem=None)}, layer="compute")],
        "root filesystem",
        False,
    ),
    "ecs-not-privileged": (
        [res(TASK_DEFINITION, "td", {"containerDefinitions": containers()}, layer="compute")],
        [res(TASK_DEFINITION, "td", {"containerDefinitions": containers(privileged=True)}, layer="compute")],
        "is privileged",
        False,
    ),
    "ecr-scan-on-push": (
        [res(ECR_REPOSITORY, "r", {"imageScanningConfiguration": {"scanOnPush": True}}, layer="compute")],
        [res(ECR_REPOSITORY, "r", {}, layer="compute")],
        "scanOnPush",
        False,
    ),
    "ecr-immutable-tags": (
        [res(ECR_REPOSITORY, "r", {"imageTagMutability": "IMMUTABLE"}, layer="compute")],
        [res(ECR_REPOSITORY, "r", {"imageTagMutability": "MUTABLE"}, layer="compute")],
        "MUTABLE",
        False,
    ),
    "ecr-lifecycle-policy": (
        [
            res(ECR_REPOSITORY, "r", {"name": "mlapi-api-demo"}, layer="compute"),
            res("aws:ecr/lifecyclePolicy:LifecyclePolicy", "lp", {"repository": "mlapi-api-demo"}, layer="compute"),
        ],
        [res(ECR_REPOSITORY, "r", {"name": "mlapi-api-demo"}, layer="compute")],
        "no lifecycle policy",
        False,
    ),
    "codedeploy-auto-rollback": (
        [deployment_group()],
        [deployment_group(autoRollbackConfiguration={"enabled": False})],
        "automatic rollback is not enabled",
        False,
    ),
    "codedeploy-rollback-alarms": (
        [deployment_group()],
        [deployment_group(alarmConfiguration=None)],
        "alarm monitoring is not enabled",
        False,
    ),
    "codedeploy-blue-green": (
        [deployment_group()],
        [deployment_group(deploymentStyle={"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"})],
        "deploymentStyle is IN_PLACE/WITHOUT_TRAFFIC_CONTROL",
        False,
    ),
    "codedeploy-blue-termination": (
        [deployment_group()],
        [deployment_group(blueGreenDeploymentConfig={"terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"}})],
        "KEEP_ALIVE, not TERMINATE",
        False,
    ),
    "ecs-codedeploy-service-has-group": (
        [code_deploy_service(), deployment_group()],
        [code_deploy_service(), deployment_group(ecsService={"clusterName": "mlapi-payments-cluster-demo", "serviceName": "x"})],
        "no deployment group names it",
        False,
    ),
    "codedeploy-test-listener-private": (
        exposed_test_listener("10.0.0.0/16"),
        exposed_test_listener("0.0.0.0/0"),
        "test listener port 8080 of deployment group deploy-group is open to the world",
        False,
    ),
    "names-carry-suffix": (
        [res(SECURITY_GROUP, "sg", {"name": "mlapi-alb-sg-demo", "tags": {"Name": "mlapi-alb-sg-demo"}}, layer="network")],
        [res(SECURITY_GROUP, "sg", {"name": "mlapi-alb-sg-demonstration"}, layer="network")],
        "does not contain the environment suffix 'demo'",
        False,
    ),
    # Judged by comparing two renderings: see the literal tests below.
    "no-literal-region-or-account": ([], [], "", False),
}


# Branches of rules beyond the one failing case each rule has in CASES: (rule, resource, message part, protect).
MORE_FAILING_CASES = [
    (
        "aurora-encrypted-cmk",
        res(RDS_CLUSTER, "db", {"storageEncrypted": False, "kmsKeyId": KEY_ARN}),
        "storageEncrypted is not true",
        False,
    ),
    (
        "aurora-encrypted-cmk",
        res(RDS_CLUSTER, "db", {"storageEncrypted": True, "kmsKeyId": "alias/aws/rds"}),
        "AWS-managed key",
        False,
    ),
    ("dynamodb-encrypted-cmk", res(DYNAMODB_TABLE, "t", {"serverSideEncryption": {"enabled": True}}), "customer-managed", False),
    ("aurora-final-snapshot", res(RDS_CLUSTER, "db", {"skipFinalSnapshot": False}), "no finalSnapshotIdentifier", True),
    (
        "ephemeral-destroyable",
        res(RDS_CLUSTER, "db", {"deletionProtection": True, "skipFinalSnapshot": True}),
        "deletionProtection is true",
        False,
    ),
    ("ephemeral-destroyable", res(RDS_CLUSTER, "db", {"skipFinalSnapshot": False}), "no finalSnapshotIdentifier", False),
    (
        "ephemeral-destroyable",
        res(DYNAMODB_TABLE, "t", {"deletionProtectionEnabled": True}),
        "deletionProtectionEnabled is true",
        False,
    ),
    (
        "ephemeral-destroyable",
        res("aws:s3/bucket:Bucket", "b", {"forceDestroy": False}, layer="edge"),
        "forceDestroy is not true",
        False,
    ),
    ("vpc-endpoint-private-dns", interface_endpoint(subnetIds=[]), "has no subnets", False),
    ("vpc-endpoint-private-dns", interface_endpoint(securityGroupIds=None), "names no security group", False),
    (
        "codedeploy-auto-rollback",
        deployment_group(autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_STOP_ON_ALARM"]}),
        "does not include DEPLOYMENT_FAILURE",
        False,
    ),
    (
        "codedeploy-auto-rollback",
        deployment_group(autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}),
        "watches alarms but automatic rollback does not include DEPLOYMENT_STOP_ON_ALARM",
        False,
    ),
    ("codedeploy-rollback-alarms", deployment_group(alarmConfiguration={"enabled": True, "alarms": []}), "no alarm names", False),
    (
        "codedeploy-rollback-alarms",
        deployment_group(alarmConfiguration={"enabled": True, "alarms": ["a"], "ignorePollAlarmFailure": True}),
        "ignorePollAlarmFailure is true",
        False,
    ),
    (
        "codedeploy-blue-green",
        deployment_group(
            loadBalancerInfo={
                "targetGroupPairInfo": {"targetGroups": [{"name": "mlapi-pay-b-demo"}, {"name": "mlapi-pay-b-demo"}]}
            }
        ),
        "names 1 distinct target group(s)",
        False,
    ),
    (
        "codedeploy-blue-green",
        deployment_group(loadBalancerInfo={"targetGroupPairInfo": {"targetGroups": [{"name": "b"}, {"name": "g"}]}}),
        "names no production listener",
        False,
    ),
    ("codedeploy-blue-green", deployment_group(ecsService=None), "does not name a cluster and a service", False),
    (
        "codedeploy-blue-termination",
        deployment_group(
            blueGreenDeploymentConfig={
                "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 10000}
            }
        ),
        "terminationWaitTimeInMinutes is 10000",
        False,
    ),
    ("codedeploy-blue-termination", deployment_group(blueGreenDeploymentConfig=None), "unset, not TERMINATE", False),
    (
        "iam-no-wildcard-resource",
        res(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "deploy-managed",
            {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECS"},
            layer="payments",
        ),
        "AWSCodeDeployRoleForECS",
        False,
    ),
]


# The network layer's interface endpoint rules (also broken in tests/compliance/test_network.py, in a
# network with the endpoints forced on).
ENDPOINT_RULES = (
    "vpc-endpoint-private-dns",
    "vpc-endpoint-sg-https-only",
    "vpc-endpoint-in-private-subnets",
    "vpc-endpoint-policy-scoped",
)


# rule id -> (mutation of the default plan, judge as protected, text the finding must contain)
MUTATIONS: dict[str, tuple[Any, bool, str]] = {
    "kms-key-rotation": (
        lambda d: _find(d, KMS_KEY, "data-key-key")["inputs"].update(enableKeyRotation=False),
        False,
        "rotation is off",
    ),
    "kms-key-not-public": (
        lambda d: _edit_json(_find(d, KMS_KEY, "data-key-key"), "policy", _unguarded_service_statement),
        False,
        "'ServicesUseKeyForThisAccount' allows Principal '*' without a StringEquals condition naming the account",
    ),
    "aurora-encrypted-cmk": (
        lambda d: _find(d, RDS_CLUSTER, "aurora-cluster")["inputs"].pop("kmsKeyId"),
        False,
        "customer-managed",
    ),
    "dynamodb-encrypted-cmk": (
        lambda d: _find(d, DYNAMODB_TABLE, "sessions-table")["inputs"].update(serverSideEncryption={"enabled": False}),
        False,
        "not enabled",
    ),
    "secret-encrypted-cmk": (
        lambda d: _find(d, RDS_CLUSTER, "aurora-cluster")["inputs"].update(masterUserSecretKmsKeyId="alias/aws/secretsmanager"),
        False,
        "AWS-managed key",
    ),
    "log-group-encrypted-cmk": (
        lambda d: _find(d, LOG_GROUP, "logs-log-group")["inputs"].pop("kmsKeyId"),
        False,
        "customer-managed",
    ),
    "log-group-retention": (
        lambda d: _find(d, LOG_GROUP, "flow-logs-log-group")["inputs"].pop("retentionInDays"),
        False,
        "forever",
    ),
    "database-not-public": (
        lambda d: _find(d, RDS_CLUSTER_INSTANCE, "aurora-instance-1")["inputs"].update(publiclyAccessible=True),
        False,
        "publiclyAccessible",
    ),
    "database-in-private-subnets": (_public_db_subnets, False, "internet gateway"),
    "rds-managed-master-password": (
        lambda d: _find(d, RDS_CLUSTER, "aurora-cluster")["inputs"].update(
            manageMasterUserPassword=False, masterPassword="hunter2"
        ),
        False,
        "masterPassword is set",
    ),
    "aurora-deletion-protection": (NOTHING, True, "deletionProtection is not true"),
    "aurora-final-snapshot": (NOTHING, True, "skipFinalSnapshot is true"),
    "aurora-multi-az": (NOTHING, True, "1 instance(s)"),
    "dynamodb-deletion-protection": (NOTHING, True, "deletionProtectionEnabled is not true"),
    "dynamodb-point-in-time-recovery": (
        lambda d: _find(d, DYNAMODB_TABLE, "sessions-table")["inputs"].update(pointInTimeRecovery={"enabled": False}),
        True,
        "recovery is off",
    ),
    "ephemeral-destroyable": (
        lambda d: _find(d, ECR_REPOSITORY, "registry-repository")["inputs"].update(forceDelete=False),
        False,
        "forceDelete is not true",
    ),
    "secret-rotation": (
        lambda d: _append(
            d,
            "data",
            res(
                SECRETS_MANAGER_SECRET,
                "app-secret",
                {"name": "mlapi-app-demo", "kmsKeyId": KEY_ARN},
                state={"arn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:mlapi-app-demo-AbCdEf"},
            ),
        ),
        False,
        "no SecretRotation",
    ),
    "subnet-no-auto-public-ip": (
        lambda d: _find(d, SUBNET, "main-public-0")["inputs"].update(mapPublicIpOnLaunch=True),
        False,
        "mapPublicIpOnLaunch is true",
    ),
    "sg-no-world-ingress": (_world_open_service_port, False, "port 8080 is open to 0.0.0.0/0"),
    "sg-egress-restricted": (
        lambda d: _find(d, SG_EGRESS, "sg-service-out-https")["inputs"].update(fromPort=0, toPort=65535),
        False,
        "allows every tcp port to 0.0.0.0/0",
    ),
    "sg-rule-descriptions": (
        lambda d: _find(d, SG_INGRESS, "sg-database-in-service")["inputs"].pop("description"),
        False,
        "no description",
    ),
    "default-sg-closed": (
        lambda d: _find(d, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "main-default-sg")["inputs"].update(
            ingress=[{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]
        ),
        False,
        "still has ingress",
    ),
    "vpc-flow-logs": (
        lambda d: _find(d, "aws:ec2/flowLog:FlowLog", "flow-logs-flow-log")["inputs"].update(trafficType="ACCEPT"),
        False,
        "not ALL or REJECT",
    ),
    "task-no-public-ip": (
        lambda d: _find(d, "aws:ecs/service:Service", "api-service")["inputs"]["networkConfiguration"].update(
            assignPublicIp=True
        ),
        False,
        "assignPublicIp is true",
    ),
    "vpc-endpoint-private-dns": (
        lambda d: _find(d, VPC_ENDPOINT, "endpoints-ecr-api")["inputs"].update(privateDnsEnabled=False),
        False,
        "privateDnsEnabled is not true",
    ),
    "vpc-endpoint-sg-https-only": (
        lambda d: _find(d, SG_INGRESS, "endpoints-in-compute")["inputs"].update(fromPort=0, toPort=65535),
        False,
        "admits tcp ports 0-65535: endpoints serve HTTPS 443 only",
    ),
    "vpc-endpoint-in-private-subnets": (
        lambda d: _find(d, VPC_ENDPOINT, "endpoints-logs")["inputs"].update(
            subnetIds=next(lyr for lyr in d["layers"] if lyr["layer"] == "network")["outputs"]["publicSubnetIds"]
        ),
        False,
        "is public: its route table sends 0.0.0.0/0 to an internet gateway",
    ),
    "vpc-endpoint-policy-scoped": (
        lambda d: _find(d, VPC_ENDPOINT, "endpoints-secretsmanager")["inputs"].update(
            policy=policy_json({"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})
        ),
        False,
        "'Anyone' allows Principal '*'",
    ),
    "alb-drop-invalid-headers": (
        lambda d: _find(d, LB, "lb-alb")["inputs"].update(dropInvalidHeaderFields=False),
        False,
        "dropInvalidHeaderFields",
    ),
    "alb-https-redirect": (lambda d: _https_listener(d, "ELBSecurityPolicy-TLS13-1-2-2021-06"), False, "serves plain HTTP"),
    "alb-tls-policy": (lambda d: _https_listener(d, "ELBSecurityPolicy-2016-08"), False, "older than 1.2"),
    "alb-behind-waf": (lambda d: _remove(d, "aws:wafv2/webAclAssociation:WebAclAssociation"), False, "not behind a WAF"),
    "alb-deletion-protection": (NOTHING, True, "enableDeletionProtection is not true"),
    # The payments ALB faces clients directly and has no domain in the default plan.
    "alb-internet-facing-https": (NOTHING, True, "no HTTPS listener"),
    "cloudfront-https-viewers": (
        lambda d: _find(d, DISTRIBUTION, "edge-cdn")["inputs"]["orderedCacheBehaviors"][0].update(
            viewerProtocolPolicy="allow-all"
        ),
        False,
        "allows plain HTTP",
    ),
    "cloudfront-custom-certificate": (
        lambda d: _find(d, DISTRIBUTION, "edge-cdn")["inputs"].update(
            viewerCertificate={"cloudfrontDefaultCertificate": True, "minimumProtocolVersion": "TLSv1"}
        ),
        True,
        "default *.cloudfront.net",
    ),
    "cloudfront-tls12": (
        lambda d: _find(d, DISTRIBUTION, "edge-cdn")["inputs"]["viewerCertificate"].update(minimumProtocolVersion="TLSv1.2_2019"),
        False,
        "TLSv1.2_2019",
    ),
    "cloudfront-waf": (lambda d: _find(d, DISTRIBUTION, "edge-cdn")["inputs"].pop("webAclId"), False, "not behind a WAF"),
    "cloudfront-origin-https": (NOTHING, True, "originProtocolPolicy=http-only"),  # the default plan's ALB has no certificate
    "waf-has-rules": (lambda d: _find(d, WEB_ACL, "alb-waf-acl")["inputs"].update(rules=[]), False, "no rules"),
    "waf-logging": (
        lambda d: _remove(d, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "alb-waf-logging"),
        False,
        "not recorded",
    ),
    "iam-no-wildcard-actions": (
        lambda d: _edit_json(
            _find(d, IAM_ROLE_POLICY, "roles-task-policy"),
            "policy",
            lambda doc: _statement("SessionTableItems")(doc).update(Action=["dynamodb:*"]),
        ),
        False,
        "allows dynamodb:*",
    ),
    "iam-no-wildcard-resource": (
        lambda d: _edit_json(
            _find(d, IAM_ROLE_POLICY, "roles-task-policy"),
            "policy",
            lambda doc: _statement("SessionTableItems")(doc).update(Resource="*"),
        ),
        False,
        "on Resource '*'",
    ),
    "ecs-distinct-task-roles": (
        lambda d: _find(d, TASK_DEFINITION, "task-definition")["inputs"].update(
            taskRoleArn=_find(d, TASK_DEFINITION, "task-definition")["inputs"]["executionRoleArn"]
        ),
        False,
        "same role",
    ),
    "ecs-container-insights": (
        lambda d: _find(d, "aws:ecs/cluster:Cluster", "ecs-cluster")["inputs"].update(
            settings=[{"name": "containerInsights", "value": "disabled"}]
        ),
        False,
        "not enabled",
    ),
    "ecs-container-logging": (
        lambda d: _edit_json(
            _find(d, TASK_DEFINITION, "task-definition"), "containerDefinitions", _container(lambda c: c.pop("logConfiguration"))
        ),
        False,
        "no logConfiguration",
    ),
    "ecs-no-secrets-in-environment": (
        lambda d: _edit_json(
            _find(d, TASK_DEFINITION, "task-definition"),
            "containerDefinitions",
            _container(lambda c: c["environment"].append({"name": "DB_PASSWORD", "value": "hunter2"})),
        ),
        False,
        "DB_PASSWORD looks like a credential",
    ),
    "ecs-readonly-root-filesystem": (
        lambda d: _edit_json(
            _find(d, TASK_DEFINITION, "task-definition"),
            "containerDefinitions",
            _container(lambda c: c.update(readonlyRootFilesystem=False)),
        ),
        False,
        "root filesystem",
    ),
    "ecs-not-privileged": (
        lambda d: _edit_json(
            _find(d, TASK_DEFINITION, "task-definition"), "containerDefinitions", _container(lambda c: c.update(privileged=True))
        ),
        False,
        "is privileged",
    ),
    "ecr-scan-on-push": (
        lambda d: _find(d, ECR_REPOSITORY, "registry-repository")["inputs"].update(
            imageScanningConfiguration={"scanOnPush": False}
        ),
        False,
        "scanOnPush is not true",
    ),
    "ecr-immutable-tags": (
        lambda d: _find(d, ECR_REPOSITORY, "registry-repository")["inputs"].update(imageTagMutability="MUTABLE"),
        False,
        "MUTABLE",
    ),
    "ecr-lifecycle-policy": (lambda d: _remove(d, "aws:ecr/lifecyclePolicy:LifecyclePolicy"), False, "no lifecycle policy"),
    "codedeploy-auto-rollback": (
        lambda d: _find_in(d, "payments", CODEDEPLOY_DEPLOYMENT_GROUP, "deploy-group")["inputs"].update(
            autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
        ),
        False,
        "does not include DEPLOYMENT_STOP_ON_ALARM",
    ),
    "codedeploy-rollback-alarms": (
        lambda d: _find_in(d, "payments", CODEDEPLOY_DEPLOYMENT_GROUP, "deploy-group")["inputs"]["alarmConfiguration"].update(
            enabled=False
        ),
        False,
        "alarm monitoring is not enabled",
    ),
    "codedeploy-blue-green": (
        lambda d: _find_in(d, "payments", CODEDEPLOY_DEPLOYMENT_GROUP, "deploy-group")["inputs"]["loadBalancerInfo"][
            "targetGroupPairInfo"
        ]["targetGroups"].pop(),
        False,
        "names 1 distinct target group(s)",
    ),
    "codedeploy-blue-termination": (
        lambda d: _find_in(d, "payments", CODEDEPLOY_DEPLOYMENT_GROUP, "deploy-group")["inputs"]["blueGreenDeploymentConfig"][
            "terminateBlueInstancesOnDeploymentSuccess"
        ].update(action="KEEP_ALIVE"),
        False,
        "KEEP_ALIVE, not TERMINATE",
    ),
    "ecs-codedeploy-service-has-group": (
        lambda d: _find_in(d, "payments", ECS_SERVICE, "service-service")["inputs"].update(name="mlapi-payments-v2-demo"),
        False,
        "no deployment group names it",
    ),
    "codedeploy-test-listener-private": (
        lambda d: _find(d, SG_INGRESS, "payments-sg-alb-in-test-10-0-0-0-16")["inputs"].update(cidrIpv4="0.0.0.0/0"),
        False,
        "is open to the world",
    ),
    "names-carry-suffix": (
        lambda d: _find(d, SECURITY_GROUP, "sg-alb")["inputs"].update(name="mlapi-alb-sg"),
        False,
        "does not contain the environment suffix 'demo'",
    ),
}
