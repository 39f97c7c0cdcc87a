"""Pulumi type tokens of the AWS resources and data sources the platform reads or writes, once.

The compliance rules match resources by these tokens, the plan mocks answer registrations and
calls by them, and the tests pick resources out of a plan with them: one spelling, so a token
that changes with a provider major version (pulumi-aws 7 keeps ``aws:lb/*`` and ``aws:alb/*``
side by side) is changed in one place. Where the provider registers one resource under two
modules, the tuple holds both.
"""

from __future__ import annotations

# -- KMS ------------------------------------------------------------------------------------------
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
KMS_ALIAS = "aws:kms/alias:Alias"

# -- RDS / DynamoDB / Secrets Manager -------------------------------------------------------------
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
SECRETS_MANAGER_SECRET = "aws:secretsmanager/secret:Secret"
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"

# -- CloudWatch / SNS -----------------------------------------------------------------------------
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SNS_TOPIC = "aws:sns/topic:Topic"

# -- EC2 / VPC ------------------------------------------------------------------------------------
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
EIP = "aws:ec2/eip:Eip"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"

# -- Elastic Load Balancing (the provider registers each under lb/ and alb/) ------------------------
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
LOAD_BALANCERS = (LB, "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = (LISTENER, "aws:alb/listener:Listener")
TARGET_GROUPS = (TARGET_GROUP, "aws:alb/targetGroup:TargetGroup")
LISTENER_RULES = (LISTENER_RULE, "aws:alb/listenerRule:ListenerRule")

# -- WAF / CloudFront / ACM / Route 53 --------------------------------------------------------------
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
ORIGIN_ACCESS_CONTROL = "aws:cloudfront/originAccessControl:OriginAccessControl"
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
ROUTE53_RECORD = "aws:route53/record:Record"

# -- ECS / ECR / Application Auto Scaling ------------------------------------------------------------
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
ECS_SERVICE = "aws:ecs/service:Service"
ECS_TASK_SET = "aws:ecs/taskSet:TaskSet"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"

# -- CodeDeploy -----------------------------------------------------------------------------------
CODEDEPLOY_APPLICATION = "aws:codedeploy/application:Application"
CODEDEPLOY_DEPLOYMENT_GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"

# -- IAM ------------------------------------------------------------------------------------------
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_GROUP_POLICY_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"

# -- S3 -------------------------------------------------------------------------------------------
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")

# -- Pulumi itself ----------------------------------------------------------------------------------
AWS_PROVIDER = "pulumi:providers:aws"
STACK = "pulumi:pulumi:Stack"

# -- data sources (invoke tokens the mocks answer) ------------------------------------------------
GET_AVAILABILITY_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_PARTITION = "aws:index/getPartition:getPartition"
GET_REGION = "aws:index/getRegion:getRegion"
GET_MANAGED_PREFIX_LIST = "aws:ec2/getManagedPrefixList:getManagedPrefixList"
GET_ROUTE53_ZONE = "aws:route53/getZone:getZone"
GET_CACHE_POLICY = "aws:cloudfront/getCachePolicy:getCachePolicy"
GET_ORIGIN_REQUEST_POLICY = "aws:cloudfront/getOriginRequestPolicy:getOriginRequestPolicy"
