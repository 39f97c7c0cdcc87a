"""The rules: small pure functions over the normalized view (see model.py), registered once.

Each rule names the controls it comes from: ``FSBP X.n`` is AWS Security Hub's Foundational
Security Best Practices standard, ``Config <rule>`` an AWS Config managed rule, ``CKV_AWS_n`` a
Checkov check, ``MLAPI <topic>`` a requirement of this project (../shared/seeds: naming,
destroyability, no hard-coded region). Rule functions yield a message (or a Finding) per problem
and nothing when the resource complies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .model import (
    SECRET,
    UNKNOWN,
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    first,
    get,
    is_mapping,
    parse_json,
    referenced,
    refers,
    text,
    truthy,
)
from .registry import AppliesTo, Scope, rule

# -- type tokens ------------------------------------------------------------------------------------
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
SECRET_RES = "aws:secretsmanager/secret:Secret"
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
ECS_SERVICE = "aws:ecs/service:Service"
ECS_TASK_SET = "aws:ecs/taskSet:TaskSet"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")

WORLD = {"0.0.0.0/0", "::/0"}
WAF_LAYER_NOTE = (
    "The WAF association lives in the edge stack, the load balancer in the compute stack: one stack "
    "cannot see both. `invoke check` judges it over the whole plan."
)


def _cmk_problem(value: Any, what: str) -> str | None:
    """Why ``value`` (a kmsKeyId/kmsKeyArn input) is not a customer-managed key, or None."""
    key = text(value)
    if not key:
        return f"{what} is not encrypted with a customer-managed KMS key (no key set: AWS-owned/managed key)"
    if "alias/aws/" in key:
        return f"{what} uses the AWS-managed key {key}, not a customer-managed key"
    return None


def _unreferenced(view: View, of: str, *, by: str, through: str, message: str) -> Iterator[Finding]:
    """A finding for every resource of type ``of`` that no resource of type ``by`` names in its
    input ``through`` (a secret without a rotation, a web ACL without logging, ...)."""
    companions = view.of_type(by)
    for resource in view.of_type(of):
        if not any(refers(companion, through, resource) for companion in companions):
            yield Finding(resource, message)


# == encryption at rest and keys ===================================================================
@rule(
    "kms-key-rotation",
    title="Customer-managed KMS keys rotate automatically",
    controls=("FSBP KMS.4",),
    fix="Set enable_key_rotation=True on the aws.kms.Key.",
    types=(KMS_KEY,),
)
def kms_key_rotation(res: Resource, env: Environment) -> Iterator[str]:
    spec = text(res.get("customerMasterKeySpec")) or text(res.get("keySpec")) or "SYMMETRIC_DEFAULT"
    # AWS rotates only symmetric encryption keys; asymmetric and HMAC keys cannot rotate.
    if spec == "SYMMETRIC_DEFAULT" and not truthy(res.get("enableKeyRotation")):
        yield "key rotation is off (enableKeyRotation is not true)"


def _public_statements(policy: Any) -> Iterator[dict[str, Any]]:
    doc = parse_json(policy)
    if not is_mapping(doc):
        return
    for statement in as_list(doc.get("Statement")):
        if not is_mapping(statement) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        principals = (
            [principal] if isinstance(principal, str) else as_list(get(principal, "AWS")) if is_mapping(principal) else []
        )
        if "*" in principals:
            yield statement


ACCOUNT_CONDITION_KEYS = {"kms:calleraccount", "aws:principalaccount", "aws:sourceaccount", "aws:sourceowner"}
# Only positive, exact comparisons limit a '*' principal: StringNotEquals opens the key to every
# other account, a Null check or an ...IfExists operator passes when the key is absent, and a
# wildcard value matches anyone.
LIMITING_OPERATORS = {"stringequals", "stringequalsignorecase", "arnequals"}


def _limits_to_accounts(condition: Any) -> bool:
    """Whether a Condition block pins the caller to named accounts."""
    if not is_mapping(condition):
        return False
    for operator, block in condition.items():
        if str(operator).lower() not in LIMITING_OPERATORS or not is_mapping(block):
            continue
        for key, value in block.items():
            values = [text(v) for v in as_list(value)]
            if key.lower() in ACCOUNT_CONDITION_KEYS and values and not any("*" in v or "?" in v or not v for v in values):
                return True
    return False


@rule(
    "kms-key-not-public",
    title="KMS key policies grant '*' principals only within this account",
    controls=("FSBP KMS.5",),
    fix="Give the statement a Condition on kms:CallerAccount (or aws:PrincipalAccount) = this account, "
    "or name the principals (shared.policies.kms_key_policy does both).",
    types=(KMS_KEY, KMS_KEY_POLICY),
)
def kms_key_not_public(res: Resource, env: Environment) -> Iterator[str]:
    for statement in _public_statements(res.get("policy")):
        if not _limits_to_accounts(statement.get("Condition")):
            yield (
                f"statement {statement.get('Sid', '(no Sid)')!r} allows Principal '*' without a StringEquals "
                "condition naming the account(s) (kms:CallerAccount, aws:PrincipalAccount, ...)"
            )


@rule(
    "aurora-encrypted-cmk",
    title="Aurora/RDS storage is encrypted with a customer-managed KMS key",
    controls=("FSBP RDS.27", "FSBP RDS.3", "FSBP RDS.4"),
    fix="Set storage_encrypted=True and kms_key_id=<the data layer's key ARN> on the cluster (snapshots inherit it).",
    types=(RDS_CLUSTER, RDS_INSTANCE),
)
def aurora_encrypted(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(res.get("storageEncrypted")):
        yield "storage is not encrypted (storageEncrypted is not true)"
    problem = _cmk_problem(res.get("kmsKeyId"), "storage")
    if problem:
        yield problem


@rule(
    "dynamodb-encrypted-cmk",
    title="DynamoDB tables are encrypted with a customer-managed KMS key",
    controls=("Config dynamodb-table-encrypted-kms", "CKV_AWS_119"),
    fix="Set server_side_encryption={enabled: True, kms_key_arn: <key ARN>} on the table.",
    types=(DYNAMODB_TABLE,),
)
def dynamodb_encrypted(res: Resource, env: Environment) -> Iterator[str]:
    sse = first(res.get("serverSideEncryption")) or {}
    if not truthy(get(sse, "enabled")):
        yield "server-side encryption with a KMS key is not enabled (the AWS-owned key is used)"
        return
    problem = _cmk_problem(get(sse, "kmsKeyArn"), "the table")
    if problem:
        yield problem


@rule(
    "secret-encrypted-cmk",
    title="Secrets (including RDS-managed master secrets) are encrypted with a customer-managed KMS key",
    controls=("Config secretsmanager-using-cmk", "CKV_AWS_149"),
    fix="Set kms_key_id on the secret; on an RDS cluster set master_user_secret_kms_key_id.",
    types=(SECRET_RES, RDS_CLUSTER, RDS_INSTANCE),
)
def secret_encrypted(res: Resource, env: Environment) -> Iterator[str]:
    if res.type == SECRET_RES:
        problem = _cmk_problem(res.get("kmsKeyId"), "the secret")
    elif truthy(res.get("manageMasterUserPassword")):
        problem = _cmk_problem(res.get("masterUserSecretKmsKeyId"), "the RDS-managed master user secret")
    else:
        problem = None
    if problem:
        yield problem


@rule(
    "log-group-encrypted-cmk",
    title="CloudWatch log groups are encrypted with a customer-managed KMS key",
    controls=("Config cloudwatch-log-group-encrypted", "CKV_AWS_158"),
    fix="Set kms_key_id=<key ARN> on the log group; the key policy must let logs.<region>.amazonaws.com use it "
    "(shared.policies.kms_key_policy(log_group_arn_pattern=...)).",
    types=(LOG_GROUP,),
)
def log_group_encrypted(res: Resource, env: Environment) -> Iterator[str]:
    problem = _cmk_problem(res.get("kmsKeyId"), "the log group")
    if problem:
        yield problem


@rule(
    "log-group-retention",
    title="CloudWatch log groups have a retention period",
    # Security Hub CloudWatch.16 asks for at least a year (its default); this project keeps 30 days
    # by default (retention is configurable), so the rule enforces what Checkov CKV_AWS_66 does:
    # a retention period is set, logs never pile up forever.
    controls=("CKV_AWS_66",),
    fix="Set retention_in_days (a CloudWatch Logs retention value) on the log group.",
    types=(LOG_GROUP,),
)
def log_group_retention(res: Resource, env: Environment) -> Iterator[str]:
    days = res.get("retentionInDays")
    if not isinstance(days, (int, float)) or days <= 0:
        yield "no retention period: logs are kept (and billed) forever"


# == databases =====================================================================================
@rule(
    "database-not-public",
    title="Database instances are not publicly accessible",
    controls=("FSBP RDS.2",),
    fix="Leave publicly_accessible unset/False on every cluster instance.",
    types=(RDS_CLUSTER_INSTANCE, RDS_INSTANCE),
)
def database_not_public(res: Resource, env: Environment) -> Iterator[str]:
    if truthy(res.get("publiclyAccessible")):
        yield "publiclyAccessible is true: the instance gets a public DNS name and address"


def _public_subnet_reasons(view: View) -> dict[str, str]:
    """URN of each subnet that is public -> why (auto-assigned public IPs, or a route to an IGW)."""
    reasons: dict[str, str] = {}
    subnets = view.of_type(SUBNET)
    tables = view.of_type(ROUTE_TABLE)
    igw_tables: set[str] = set()
    for table in tables:
        if any(
            text(get(route, "gatewayId")).startswith("igw-") and text(get(route, "cidrBlock")) in WORLD
            for route in as_list(table.get("routes"))
        ):
            igw_tables.add(table.urn)
    for route in view.of_type(ROUTE):
        if text(route.get("gatewayId")).startswith("igw-"):
            igw_tables.update(t.urn for t in referenced(view, route, "routeTableId", ROUTE_TABLE))
    for association in view.of_type(ROUTE_TABLE_ASSOCIATION):
        if any(t.urn in igw_tables for t in referenced(view, association, "routeTableId", ROUTE_TABLE)):
            for subnet in referenced(view, association, "subnetId", SUBNET):
                reasons[subnet.urn] = "its route table sends 0.0.0.0/0 to an internet gateway"
    for subnet in subnets:
        if truthy(subnet.get("mapPublicIpOnLaunch")):
            reasons[subnet.urn] = "it assigns public IPs on launch"
    return reasons


@rule(
    "database-in-private-subnets",
    title="Database subnet groups use only private subnets",
    controls=("FSBP RDS.2",),
    fix="Build the DB subnet group from the network layer's privateSubnetIds.",
    scope=Scope.STACK,
    pack_note="The subnets live in the network stack; a data stack alone cannot see their routes.",
)
def database_in_private_subnets(view: View, env: Environment) -> Iterator[Finding]:
    public = _public_subnet_reasons(view)
    for group in view.of_type(RDS_SUBNET_GROUP):
        for subnet_id in as_list(group.get("subnetIds")):
            matches = [s for s in view.of_type(SUBNET) if subnet_id in s.refs()]
            if not matches:
                if not view.whole:
                    yield Finding(
                        group,
                        f"subnet {subnet_id} is not in this stack",
                        not_judged="The subnets live in the network stack; `invoke check` judges them over the whole plan.",
                    )
                else:
                    yield Finding(
                        group, f"subnet {subnet_id} is not declared in this environment, so it cannot be shown to be private"
                    )
                continue
            for subnet in matches:
                if subnet.urn in public:
                    yield Finding(group, f"subnet {subnet.label()} is public: {public[subnet.urn]}")


@rule(
    "rds-managed-master-password",
    title="The database master password is managed (and rotated) by RDS, never set in code or config",
    controls=("FSBP SecretsManager.1", "MLAPI no password in config"),
    fix="Set manage_master_user_password=True (with master_user_secret_kms_key_id) and drop master_password.",
    types=(RDS_CLUSTER, RDS_INSTANCE),
)
def rds_managed_password(res: Resource, env: Environment) -> Iterator[str]:
    if res.get("masterPassword"):
        yield "masterPassword is set: the password lives in code/config and state, and nothing rotates it"
    elif not truthy(res.get("manageMasterUserPassword")) and not res.get("snapshotIdentifier"):
        yield "manageMasterUserPassword is not true: no rotated, RDS-managed master secret"


@rule(
    "aurora-deletion-protection",
    title="Databases of protected environments have deletion protection",
    controls=("FSBP RDS.7", "FSBP RDS.8"),
    fix="Set deletion_protection=env.blocks_deletion on the cluster (protect, unless decommissioning).",
    types=(RDS_CLUSTER, RDS_INSTANCE),
    applies_to=AppliesTo.PROTECTED,
    waiver="deletion protection would make `pulumi destroy` fail; throwaway environments must be destroyable",
    lifted_while_decommissioning=True,
)
def aurora_deletion_protection(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(res.get("deletionProtection")):
        yield "deletionProtection is not true"


@rule(
    "aurora-final-snapshot",
    title="Databases of protected environments take a final snapshot when deleted",
    controls=("MLAPI protect (final snapshots)",),
    fix="Set skip_final_snapshot=not env.keeps_data and a final_snapshot_identifier unique to the cluster "
    "(env.name('aurora-final', kind='rds') plus a RandomId kept in state).",
    types=(RDS_CLUSTER, RDS_INSTANCE),
    applies_to=AppliesTo.PROTECTED,
    waiver="a throwaway environment's data is not kept; skipping the snapshot keeps `pulumi destroy` fast and free",
)
def aurora_final_snapshot(res: Resource, env: Environment) -> Iterator[str]:
    if truthy(res.get("skipFinalSnapshot")):
        yield "skipFinalSnapshot is true: deleting the cluster loses its data"
    elif not res.get("finalSnapshotIdentifier"):
        yield "no finalSnapshotIdentifier: the delete fails instead of taking the snapshot"


@rule(
    "aurora-multi-az",
    title="Databases of protected environments span more than one availability zone",
    controls=("FSBP RDS.15", "FSBP RDS.5"),
    fix="Give protected environments at least two cluster instances (a writer and a reader in another AZ; "
    "leave availability_zone unset or pin them to different zones).",
    scope=Scope.STACK,
    applies_to=AppliesTo.PROTECTED,
    waiver="one instance halves the cost of a throwaway environment; its availability does not matter",
    pack_note="Judged within the stack that declares the cluster and its instances.",
)
def aurora_multi_az(view: View, env: Environment) -> Iterator[Finding]:
    for cluster in view.of_type(RDS_CLUSTER):
        members = [i for i in view.of_type(RDS_CLUSTER_INSTANCE) if refers(i, "clusterIdentifier", cluster)]
        zones = [text(i.get("availabilityZone")) for i in members]
        if len(members) < 2:
            yield Finding(cluster, f"{len(members)} instance(s): a single AZ failure takes the database down")
        elif all(zones) and len(set(zones)) < 2:
            # Instances pinned to one zone are not multi-AZ, however many there are (unpinned ones RDS spreads).
            yield Finding(
                cluster, f"all {len(members)} instances are pinned to {zones[0]}: a single AZ failure takes the database down"
            )
    # A stand-alone instance (aws.rds.Instance never belongs to a cluster; Aurora members are ClusterInstance).
    for instance in view.of_type(RDS_INSTANCE):
        if not truthy(instance.get("multiAz")):
            yield Finding(instance, "multiAz is not true")


@rule(
    "dynamodb-deletion-protection",
    title="DynamoDB tables of protected environments have deletion protection",
    controls=("FSBP DynamoDB.6",),
    fix="Set deletion_protection_enabled=env.blocks_deletion on the table (protect, unless decommissioning).",
    types=(DYNAMODB_TABLE,),
    applies_to=AppliesTo.PROTECTED,
    waiver="deletion protection would make `pulumi destroy` fail; throwaway environments must be destroyable",
    lifted_while_decommissioning=True,
)
def dynamodb_deletion_protection(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(res.get("deletionProtectionEnabled")):
        yield "deletionProtectionEnabled is not true"


@rule(
    "dynamodb-point-in-time-recovery",
    title="DynamoDB tables of protected environments have point-in-time recovery",
    controls=("FSBP DynamoDB.2",),
    fix="Set point_in_time_recovery={enabled: env.protect} on the table.",
    types=(DYNAMODB_TABLE,),
    applies_to=AppliesTo.PROTECTED,
    waiver="continuous backups cost money and a throwaway environment's sessions are not worth restoring",
)
def dynamodb_pitr(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(get(first(res.get("pointInTimeRecovery")) or {}, "enabled")):
        yield "point-in-time recovery is off"


@rule(
    "ephemeral-destroyable",
    title="Ephemeral and decommissioning environments can be destroyed completely",
    controls=("MLAPI destroyability",),
    fix="Drive every deletion guard from env.blocks_deletion (protect, unless decommissioning): deletion_protection / "
    "enable_deletion_protection / deletion_protection_enabled = env.blocks_deletion, force_delete / force_destroy = "
    "not env.blocks_deletion; and skip_final_snapshot = not env.keeps_data, with a final_snapshot_identifier.",
    types=(RDS_CLUSTER, RDS_INSTANCE, DYNAMODB_TABLE, *LOAD_BALANCERS, ECR_REPOSITORY, *S3_BUCKETS),
    applies_to=AppliesTo.EPHEMERAL,
    waiver="protected environments keep their data and refuse accidental deletion",
)
def ephemeral_destroyable(res: Resource, env: Environment) -> Iterator[str]:
    t = res.type
    if t in (RDS_CLUSTER, RDS_INSTANCE):
        if truthy(res.get("deletionProtection")):
            yield "deletionProtection is true: `pulumi destroy` fails"
        if not truthy(res.get("skipFinalSnapshot")) and not res.get("finalSnapshotIdentifier"):
            yield "skipFinalSnapshot is not true and there is no finalSnapshotIdentifier: `pulumi destroy` fails"
    elif t == DYNAMODB_TABLE and truthy(res.get("deletionProtectionEnabled")):
        yield "deletionProtectionEnabled is true: `pulumi destroy` fails"
    elif t in LOAD_BALANCERS and truthy(res.get("enableDeletionProtection")):
        yield "enableDeletionProtection is true: `pulumi destroy` fails"
    elif t == ECR_REPOSITORY and not truthy(res.get("forceDelete")):
        yield "forceDelete is not true: `pulumi destroy` fails once the repository holds images"
    elif t in S3_BUCKETS and not truthy(res.get("forceDestroy")):
        yield "forceDestroy is not true: `pulumi destroy` fails once the bucket holds objects"


# == secrets =======================================================================================
@rule(
    "secret-rotation",
    title="Secrets Manager secrets rotate automatically",
    controls=("FSBP SecretsManager.1",),
    fix="Add an aws.secretsmanager.SecretRotation for the secret (or let RDS manage the master secret: "
    "manage_master_user_password=True rotates it without a SecretRotation).",
    scope=Scope.STACK,
    pack_note="Judged within one stack: the rotation is expected next to its secret.",
)
def secret_rotation(view: View, env: Environment) -> Iterator[Finding]:
    yield from _unreferenced(
        view, SECRET_RES, by=SECRET_ROTATION, through="secretId", message="no SecretRotation rotates this secret"
    )


# == network =======================================================================================
@rule(
    "subnet-no-auto-public-ip",
    title="Subnets do not assign public IP addresses automatically",
    controls=("FSBP EC2.15",),
    fix="Set map_public_ip_on_launch=False on the subnet.",
    types=(SUBNET,),
)
def subnet_no_public_ip(res: Resource, env: Environment) -> Iterator[str]:
    if truthy(res.get("mapPublicIpOnLaunch")):
        yield "mapPublicIpOnLaunch is true"


def _ingress_rules(view: View) -> Iterator[tuple[Resource, str | None, dict[str, Any], list[str]]]:
    """Every ingress permission: (declaring resource, security group id or None when inline,
    the rule's fields, its world-open sources)."""
    for res in view.of_type(SG_INGRESS):
        sources = [s for s in (text(res.get("cidrIpv4")), text(res.get("cidrIpv6"))) if s in WORLD]
        fields = {"protocol": text(res.get("ipProtocol")), "from": res.get("fromPort"), "to": res.get("toPort")}
        yield res, text(res.get("securityGroupId")), fields, sources
    for res in view.of_type(SG_RULE):
        if res.get("type") != "ingress":
            continue
        sources = [s for s in [*as_list(res.get("cidrBlocks")), *as_list(res.get("ipv6CidrBlocks"))] if s in WORLD]
        fields = {"protocol": text(res.get("protocol")), "from": res.get("fromPort"), "to": res.get("toPort")}
        yield res, text(res.get("securityGroupId")), fields, sources
    for res in view.of_type(SECURITY_GROUP):
        for block in as_list(res.get("ingress")):
            sources = [s for s in [*as_list(get(block, "cidrBlocks")), *as_list(get(block, "ipv6CidrBlocks"))] if s in WORLD]
            fields = {"protocol": text(get(block, "protocol")), "from": get(block, "fromPort"), "to": get(block, "toPort")}
            yield res, None, fields, sources


def _ports(fields: dict[str, Any]) -> tuple[int, int] | None:
    """The TCP port range of a rule, or None when it opens every protocol/port."""
    protocol = fields["protocol"].lower()
    if protocol in ("-1", "all"):
        return None
    low, high = fields["from"], fields["to"]
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        return None
    return int(low), int(high)


def _describe(ports: tuple[int, int] | None) -> str:
    if ports is None:
        return "every port"
    return f"port {ports[0]}" if ports[0] == ports[1] else f"ports {ports[0]}-{ports[1]}"


# FSBP EC2.18's default authorizedTcpPorts: what a stack that cannot see the ALB accepts.
STANDARD_LISTENER_PORTS = {80, 443}


@rule(
    "sg-no-world-ingress",
    title="Only the load balancer's listener ports are open to the world",
    controls=("FSBP EC2.18", "FSBP EC2.19", "FSBP EC2.53", "FSBP EC2.54"),
    fix="Open 0.0.0.0/0 only on the ALB's security group and only on its listener ports; everything else "
    "references a security group or a managed prefix list (CloudFront's origin-facing list).",
    scope=Scope.STACK,
    pack_note="The security groups live in the network stack, the load balancer and its listeners in the compute "
    "stack. Alone, the network stack is held to FSBP EC2.18's default (80/443); `invoke check` compares with the "
    "real listeners.",
)
def sg_no_world_ingress(view: View, env: Environment) -> Iterator[Finding]:
    lbs = view.of_type(*LOAD_BALANCERS)
    listener_ports: dict[str, set[int]] = {}  # LB security group id -> its listener ports
    for lb in lbs:
        ports = {
            int(listener.get("port"))
            for listener in view.of_type(*LISTENERS)
            if refers(listener, "loadBalancerArn", lb) and isinstance(listener.get("port"), (int, float))
        }
        for group in as_list(lb.get("securityGroups")):
            listener_ports.setdefault(text(group), set()).update(ports)
    for res, group_id, fields, sources in _ingress_rules(view):
        if not sources:
            continue
        if group_id is None:
            group_id = res.id
        ports = _ports(fields)
        where = f"{_describe(ports)} is open to {', '.join(sources)}"
        allowed = listener_ports.get(group_id)
        if allowed is not None:
            if (
                ports is not None
                and fields["protocol"].lower() in ("tcp", "6")
                and all(p in allowed for p in range(ports[0], ports[1] + 1))
            ):
                continue
            yield Finding(
                res, f"{where} on the load balancer's security group, whose listeners use {sorted(allowed) or 'no ports'}"
            )
        elif lbs or view.whole:
            yield Finding(res, f"{where}, and this is not a load balancer's security group")
        elif (
            ports is not None
            and fields["protocol"].lower() in ("tcp", "6")
            and set(range(ports[0], ports[1] + 1)) <= STANDARD_LISTENER_PORTS
        ):
            yield Finding(
                res,
                where,
                not_judged="this stack cannot see which security group the load balancer uses; "
                "80/443 accepted here (EC2.18 default), `invoke check` judges it over the whole plan",
            )
        else:
            yield Finding(res, f"{where}; only 80/443 may be open to the world, and only on the load balancer")


@rule(
    "sg-rule-descriptions",
    title="Security groups and every rule in them have a description",
    controls=("CKV_AWS_23",),
    fix="Give the security group and each ingress/egress rule a description that says who talks to whom on what port.",
    types=(SECURITY_GROUP, SG_RULE, SG_INGRESS, SG_EGRESS),
)
def sg_rule_descriptions(res: Resource, env: Environment) -> Iterator[str]:
    description = text(res.get("description")).strip()
    if res.type == SECURITY_GROUP:
        if not description or description == "Managed by Pulumi":
            yield "the security group has no description of its own (Pulumi's default 'Managed by Pulumi')"
        for direction in ("ingress", "egress"):
            for index, block in enumerate(as_list(res.get(direction))):
                if not text(get(block, "description")).strip():
                    yield f"inline {direction} rule #{index} has no description"
    elif not description:
        yield "the rule has no description"


@rule(
    "default-sg-closed",
    title="Every VPC's default security group allows no traffic",
    controls=("FSBP EC2.2",),
    fix="Adopt the default security group with aws.ec2.DefaultSecurityGroup(vpc_id=..., ingress=[], egress=[]).",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the VPC.",
)
def default_sg_closed(view: View, env: Environment) -> Iterator[Finding]:
    defaults = view.of_type(DEFAULT_SECURITY_GROUP)
    for group in defaults:
        rules = [d for d in ("ingress", "egress") if as_list(group.get(d))]
        if rules:
            yield Finding(group, f"the default security group still has {' and '.join(rules)} rules")
    for vpc in view.of_type(VPC):
        if not any(refers(group, "vpcId", vpc) for group in defaults):
            yield Finding(vpc, "the VPC's default security group is not managed, so it keeps AWS's allow rules")


@rule(
    "vpc-flow-logs",
    title="Every VPC has flow logs",
    controls=("FSBP EC2.6",),
    fix="Add an aws.ec2.FlowLog(vpc_id=..., traffic_type='ALL') (or at least 'REJECT') to an encrypted log group.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the VPC.",
)
def vpc_flow_logs(view: View, env: Environment) -> Iterator[Finding]:
    flow_logs = view.of_type(FLOW_LOG)
    for vpc in view.of_type(VPC):
        logs = [log for log in flow_logs if refers(log, "vpcId", vpc)]
        if not logs:
            yield Finding(vpc, "no flow log records this VPC's traffic")
        # EC2.6 asks for rejected traffic at least: a flow log of ACCEPT only misses every probe.
        elif not any(text(log.get("trafficType")).upper() in ("ALL", "REJECT") for log in logs):
            kinds = ", ".join(sorted({text(log.get("trafficType")) or "unset" for log in logs}))
            yield Finding(
                vpc, f"the VPC's flow logs record trafficType {kinds}, not ALL or REJECT: rejected traffic goes unrecorded"
            )


@rule(
    "task-no-public-ip",
    title="ECS tasks get no public IP address",
    controls=("FSBP ECS.2", "FSBP ECS.16"),
    fix="Set network_configuration.assign_public_ip=False and run tasks in private subnets.",
    types=(ECS_SERVICE, ECS_TASK_SET),
)
def task_no_public_ip(res: Resource, env: Environment) -> Iterator[str]:
    if truthy(get(first(res.get("networkConfiguration")) or {}, "assignPublicIp")):
        yield "assignPublicIp is true"


# == load balancer =================================================================================
@rule(
    "alb-drop-invalid-headers",
    title="Application load balancers drop invalid HTTP headers",
    controls=("FSBP ELB.4",),
    fix="Set drop_invalid_header_fields=True on the load balancer.",
    types=LOAD_BALANCERS,
)
def alb_drop_invalid_headers(res: Resource, env: Environment) -> Iterator[str]:
    if text(res.get("loadBalancerType")) in ("", "application") and not truthy(res.get("dropInvalidHeaderFields")):
        yield "dropInvalidHeaderFields is not true"


@rule(
    "alb-https-redirect",
    title="A load balancer with a certificate redirects HTTP to HTTPS",
    controls=("FSBP ELB.1",),
    fix="Make the HTTP listener's only default action a redirect to protocol HTTPS, port 443 (HTTP_301).",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the load balancer and its listeners.",
)
def alb_https_redirect(view: View, env: Environment) -> Iterator[Finding]:
    for lb in view.of_type(*LOAD_BALANCERS):
        listeners = [lyr for lyr in view.of_type(*LISTENERS) if refers(lyr, "loadBalancerArn", lb)]
        if not any(text(lyr.get("protocol")).upper() == "HTTPS" for lyr in listeners):
            continue  # no certificate: CloudFront terminates TLS and reaches the ALB over HTTP
        for listener in listeners:
            if text(listener.get("protocol")).upper() != "HTTP":
                continue
            actions = as_list(listener.get("defaultActions"))
            redirects = [
                a
                for a in actions
                if get(a, "type") == "redirect" and text(get(first(get(a, "redirect")) or {}, "protocol")).upper() == "HTTPS"
            ]
            if not redirects or len(actions) != len(redirects):
                yield Finding(
                    listener,
                    f"HTTP listener on port {listener.get('port')} serves plain HTTP although the load balancer has an HTTPS listener",
                )


TLS12_POLICY_PREFIXES = (
    "ELBSecurityPolicy-TLS13-1-2-",
    "ELBSecurityPolicy-TLS13-1-3-",
    "ELBSecurityPolicy-TLS-1-2-",
    "ELBSecurityPolicy-FS-1-2-",
)


@rule(
    "alb-tls-policy",
    title="HTTPS listeners accept only TLS 1.2 or newer",
    controls=("FSBP ELB.17",),
    fix="Set ssl_policy='ELBSecurityPolicy-TLS13-1-2-2021-06' (or another TLS 1.2+ policy) on the HTTPS listener.",
    types=LISTENERS,
)
def alb_tls_policy(res: Resource, env: Environment) -> Iterator[str]:
    if text(res.get("protocol")).upper() not in ("HTTPS", "TLS"):
        return
    policy = text(res.get("sslPolicy"))
    if not policy.startswith(TLS12_POLICY_PREFIXES):
        yield f"ssl policy {policy or '(unset: ELBSecurityPolicy-2016-08, TLS 1.0)'} accepts TLS older than 1.2"


@rule(
    "alb-behind-waf",
    title="Every application load balancer is associated with a WAF web ACL",
    controls=("FSBP ELB.16", "Config alb-waf-enabled"),
    fix="Associate a REGIONAL aws.wafv2.WebAcl with the ALB (aws.wafv2.WebAclAssociation(resource_arn=albArn, ...)) "
    "in the edge layer.",
    scope=Scope.STACK,
    pack_note=WAF_LAYER_NOTE,
)
def alb_behind_waf(view: View, env: Environment) -> Iterator[Finding]:
    associations = view.of_type(WEB_ACL_ASSOCIATION)
    for lb in view.of_type(*LOAD_BALANCERS):
        if text(lb.get("loadBalancerType")) not in ("", "application"):
            continue
        if any(refers(a, "resourceArn", lb) for a in associations):
            continue
        if view.whole:
            yield Finding(lb, "no WebAclAssociation references this load balancer: it is not behind a WAF")
        else:
            yield Finding(lb, "no WebAclAssociation in this stack", not_judged=WAF_LAYER_NOTE)


@rule(
    "alb-deletion-protection",
    title="Load balancers of protected environments have deletion protection",
    controls=("FSBP ELB.6",),
    fix="Set enable_deletion_protection=env.blocks_deletion on the load balancer (protect, unless decommissioning).",
    types=LOAD_BALANCERS,
    applies_to=AppliesTo.PROTECTED,
    waiver="deletion protection would make `pulumi destroy` fail; throwaway environments must be destroyable",
    lifted_while_decommissioning=True,
)
def alb_deletion_protection(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(res.get("enableDeletionProtection")):
        yield "enableDeletionProtection is not true"


# == CloudFront and WAF ============================================================================
def _behaviors(res: Resource) -> Iterator[tuple[str, Any]]:
    yield "default cache behavior", first(res.get("defaultCacheBehavior")) or {}
    for behavior in as_list(res.get("orderedCacheBehaviors")):
        yield f"cache behavior {get(behavior, 'pathPattern', '?')}", behavior


@rule(
    "cloudfront-https-viewers",
    title="CloudFront serves viewers over HTTPS only",
    controls=("FSBP CloudFront.3",),
    fix="Set viewer_protocol_policy='redirect-to-https' (or 'https-only') on every cache behavior.",
    types=(DISTRIBUTION,),
)
def cloudfront_https_viewers(res: Resource, env: Environment) -> Iterator[str]:
    for where, behavior in _behaviors(res):
        policy = text(get(behavior, "viewerProtocolPolicy"))
        if policy not in ("https-only", "redirect-to-https"):
            yield f"{where} allows plain HTTP (viewerProtocolPolicy={policy or 'unset'})"


DEFAULT_CERTIFICATE_WAIVER = (
    "ephemeral environment without a domain: the *.cloudfront.net certificate (which pins viewers to TLSv1) is "
    "accepted for a throwaway environment only (edge certificateMode=cloudfront-default)"
)


@rule(
    "cloudfront-custom-certificate",
    title="CloudFront uses a custom ACM certificate served with SNI",
    controls=("FSBP CloudFront.7", "FSBP CloudFront.8"),
    fix="Give the edge layer a domain: viewer_certificate={acm_certificate_arn: <us-east-1 ACM ARN>, "
    "ssl_support_method: 'sni-only', minimum_protocol_version: 'TLSv1.2_2021'}.",
    types=(DISTRIBUTION,),
    uses_protect=True,
)
def cloudfront_custom_certificate(res: Resource, env: Environment) -> Iterator[Any]:
    cert = first(res.get("viewerCertificate")) or {}
    if truthy(get(cert, "cloudfrontDefaultCertificate")) or not get(cert, "acmCertificateArn"):
        message = "the distribution uses the default *.cloudfront.net certificate"
        yield Finding(res, message, waived=None if env.protect else DEFAULT_CERTIFICATE_WAIVER)
    elif text(get(cert, "sslSupportMethod")) != "sni-only":
        yield f"sslSupportMethod is {get(cert, 'sslSupportMethod') or 'unset'}, not sni-only (dedicated IPs cost $600/month)"


# FSBP CloudFront.15 accepts TLSv1.2_2021, TLSv1.2_2025 and TLSv1.3_2025; TLSv1.2_2018/2019 keep CBC ciphers.
CLOUDFRONT_RECOMMENDED_TLS12_YEAR = 2021


@rule(
    "cloudfront-tls12",
    title="CloudFront accepts only TLS 1.2 or newer from viewers",
    controls=("FSBP CloudFront.15", "Config cloudfront-security-policy-check"),
    fix="Set viewer_certificate.minimum_protocol_version='TLSv1.2_2021' or newer (needs a custom certificate).",
    types=(DISTRIBUTION,),
    uses_protect=True,
)
def cloudfront_tls12(res: Resource, env: Environment) -> Iterator[Any]:
    cert = first(res.get("viewerCertificate")) or {}
    if truthy(get(cert, "cloudfrontDefaultCertificate")) or not get(cert, "acmCertificateArn"):
        message = "with the default certificate CloudFront accepts TLSv1 from viewers"
        yield Finding(res, message, waived=None if env.protect else DEFAULT_CERTIFICATE_WAIVER)
        return
    version = text(get(cert, "minimumProtocolVersion"))
    match = re.fullmatch(r"TLSv1\.([23])_(\d{4})", version)
    if not match:
        yield f"minimumProtocolVersion is {version or 'unset'}, which accepts TLS older than 1.2"
    elif match.group(1) == "2" and int(match.group(2)) < CLOUDFRONT_RECOMMENDED_TLS12_YEAR:
        yield (
            f"minimumProtocolVersion is {version}: TLS 1.2, but with the weaker cipher suites CloudFront.15 "
            f"rejects (use TLSv1.2_2021 or newer)"
        )


@rule(
    "cloudfront-waf",
    title="CloudFront distributions are protected by a WAF web ACL",
    controls=("FSBP CloudFront.6",),
    fix="Set web_acl_id=<ARN of a CLOUDFRONT-scope WAFv2 web ACL (us-east-1)> on the distribution.",
    types=(DISTRIBUTION,),
)
def cloudfront_waf(res: Resource, env: Environment) -> Iterator[str]:
    if not text(res.get("webAclId")):
        yield "no webAclId: the distribution is not behind a WAF"


HTTP_ORIGIN_WAIVER = (
    "ephemeral environment whose load balancer has no certificate (compute albDomainName unset): CloudFront "
    "reaches it over HTTP, accepted for a throwaway environment only"
)


@rule(
    "cloudfront-origin-https",
    title="CloudFront reaches custom origins over HTTPS",
    controls=("FSBP CloudFront.9", "FSBP CloudFront.10"),
    fix="Give the ALB a certificate (compute albDomainName and hostedZoneId) so the origin can use "
    "origin_protocol_policy='https-only' with origin_ssl_protocols=['TLSv1.2'].",
    types=(DISTRIBUTION,),
    uses_protect=True,
)
def cloudfront_origin_https(res: Resource, env: Environment) -> Iterator[Any]:
    for origin in as_list(res.get("origins")):
        config = first(get(origin, "customOriginConfig"))
        if not config:
            continue
        policy = text(get(config, "originProtocolPolicy"))
        if policy != "https-only":
            # Over HTTP the viewers' headers (Authorization included) and the origin secret cross
            # the internet in clear text: never for a long-lived environment.
            message = f"origin {get(origin, 'originId', '?')} is reached with originProtocolPolicy={policy or 'unset'}"
            yield Finding(res, message, waived=None if env.protect else HTTP_ORIGIN_WAIVER)
        old = [p for p in as_list(get(config, "originSslProtocols")) if p in ("SSLv3", "TLSv1", "TLSv1.1")]
        if old:
            yield f"origin {get(origin, 'originId', '?')} allows {', '.join(old)}"


@rule(
    "waf-has-rules",
    title="WAF web ACLs contain at least one rule",
    controls=("FSBP WAF.10",),
    fix="Add managed rule groups (AWSManagedRulesCommonRuleSet, KnownBadInputs) and a rate-based rule.",
    types=(WEB_ACL,),
)
def waf_has_rules(res: Resource, env: Environment) -> Iterator[str]:
    if not as_list(res.get("rules")) and not text(res.get("ruleJson")):
        yield "the web ACL has no rules: it only applies its default action"


@rule(
    "waf-logging",
    title="WAF web ACLs log their decisions",
    controls=("FSBP WAF.11",),
    fix="Add aws.wafv2.WebAclLoggingConfiguration(resource_arn=acl.arn, log_destination_configs=[<log group "
    "named aws-waf-logs-...>]) for every web ACL.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the web ACL.",
)
def waf_logging(view: View, env: Environment) -> Iterator[Finding]:
    yield from _unreferenced(
        view,
        WEB_ACL,
        by=WEB_ACL_LOGGING,
        through="resourceArn",
        message="no WebAclLoggingConfiguration: requests the WAF blocks or allows are not recorded",
    )


# == IAM ===========================================================================================
# Actions AWS documents as having no resource type: "*" is the only Resource they accept.
RESOURCE_STAR_ACTIONS = frozenset(
    {
        "ecr:GetAuthorizationToken",  # a registry-wide token
        # ECS Exec: the Session Manager message channels.
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "cloudwatch:PutMetricData",  # scoped with a cloudwatch:namespace condition, not a resource
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "sts:GetCallerIdentity",
        # Elastic Load Balancing's reads (CodeDeploy's blue/green traffic shifting needs them).
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    }
)
# Listing actions that IAM authorizes against an account-level pseudo-ARN rather than one resource
# (logs:DescribeLogGroups is checked on "arn:aws:logs:<region>:<account>:log-group::log-stream:"), so
# the narrowest Resource that works is every resource of the type in one account and region - never "*".
ACCOUNT_LEVEL_LIST_ACTIONS = {
    "logs:DescribeLogGroups": re.compile(r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:\*$"),
}
IDENTITY_POLICY_TYPES = (IAM_POLICY, IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY, IAM_ROLE)
POLICY_ATTACHMENT_TYPES = (
    IAM_ROLE_POLICY_ATTACHMENT,
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
# AWS managed policies: their documents are not in the plan, but these are known to break the rules.
AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
# '*' / NotAction / 'service:*' (every *FullAccess policy grants service:* on '*').
AWS_MANAGED_WILDCARD_ACTIONS = re.compile(r"^(AdministratorAccess|PowerUserAccess|.*FullAccess(?:-v\d+)?)$")
# Resource '*' for actions that have resource types (besides the wildcard-action ones above).
AWS_MANAGED_WILDCARD_RESOURCE = {
    "AmazonECSTaskExecutionRolePolicy": "ecr:BatchGetImage, ecr:GetDownloadUrlForLayer, logs:CreateLogStream and "
    "logs:PutLogEvents on every repository and log group",
    "ReadOnlyAccess": "read access to every resource of every service",
    "ViewOnlyAccess": "list/describe access to every resource of many services",
    "AmazonEC2ContainerRegistryReadOnly": "image pulls from every repository",
}
# A Resource ARN naming every resource of a type ("arn:aws:dynamodb:...:table/*", "...:secret:*") is '*' in disguise.
# (S3 ARNs carry no resource type: "arn:aws:s3:::bucket/*" is every object of one bucket, which is fine.)
EVERY_RESOURCE_OF_A_TYPE = re.compile(
    r"^arn:aws[a-z-]*:(?!s3:)[a-z0-9-]+:[^:]*:[^:]*:[A-Za-z0-9-]+[:/]\*$|^arn:aws[a-z-]*:[a-z0-9-]+:[^:]*:[^:]*:\*$"
)


def _identity_policies(res: Resource) -> Iterator[tuple[str, Any]]:
    """(label, parsed document) of each identity policy a resource carries."""
    if res.type == IAM_ROLE:
        for policy in as_list(res.get("inlinePolicies")):
            yield f"inline policy {get(policy, 'name', '?')}", parse_json(get(policy, "policy"))
    else:
        yield "policy", parse_json(res.get("policy"))


def _allow_statements(res: Resource) -> Iterator[tuple[str, Any]]:
    for label, doc in _identity_policies(res):
        if doc is None and res.type != IAM_ROLE and res.get("policy") == SECRET:
            yield label, {"Sid": "(secret policy: cannot be read)", "Effect": "Allow"}
            continue
        if not is_mapping(doc):
            continue
        for statement in as_list(doc.get("Statement")):
            if is_mapping(statement) and statement.get("Effect", "Allow") == "Allow":
                yield label, statement


def _sid(statement: Any) -> str:
    return repr(statement.get("Sid", "(no Sid)"))


def _managed_policies(res: Resource) -> Iterator[tuple[str, str]]:
    """(ARN, name) of each AWS managed policy a resource attaches."""
    if res.type == IAM_ROLE:
        arns = as_list(res.get("managedPolicyArns"))
    elif res.type in POLICY_ATTACHMENT_TYPES:
        arns = [res.get("policyArn")]
    else:
        arns = []
    for arn in arns:
        match = AWS_MANAGED_POLICY.match(text(arn))
        if match:
            yield text(arn), match.group(1)


@rule(
    "iam-no-wildcard-actions",
    title="IAM policies grant named actions, never '*' or 'service:*'",
    controls=("FSBP IAM.1", "FSBP IAM.21"),
    fix="List the actions the principal needs (for ECS Exec: the four ssmmessages:*Channel actions, not ssmmessages:*) "
    "in a policy of your own instead of attaching AdministratorAccess, PowerUserAccess or a *FullAccess policy.",
    types=(*IDENTITY_POLICY_TYPES, *POLICY_ATTACHMENT_TYPES),
)
def iam_no_wildcard_actions(res: Resource, env: Environment) -> Iterator[str]:
    for _arn, name in _managed_policies(res):
        if AWS_MANAGED_WILDCARD_ACTIONS.match(name):
            yield f"attaches the AWS managed policy {name}, which allows '*', NotAction or 'service:*'"
    for label, statement in _allow_statements(res):
        if "NotAction" in statement:
            yield f"{label} statement {_sid(statement)} allows NotAction (everything except a list)"
        wild = [a for a in as_list(statement.get("Action")) if isinstance(a, str) and (a == "*" or a.endswith(":*"))]
        if wild:
            yield f"{label} statement {_sid(statement)} allows {', '.join(wild)}"


@rule(
    "iam-no-wildcard-resource",
    title="IAM policies name resource ARNs; Resource '*' only for actions that have no resource type",
    controls=("FSBP IAM.1", "FSBP KMS.1", "FSBP KMS.2"),
    fix="Use the ARNs (from resource outputs or StackReferences) in Resource; '*' is accepted only for "
    + ", ".join(sorted(RESOURCE_STAR_ACTIONS))
    + ". KMS key policies are exempt: there '*' means 'this key'. Instead of an AWS managed policy such as "
    "AmazonECSTaskExecutionRolePolicy, write the few statements the role needs with the repository and log group ARNs.",
    types=(*IDENTITY_POLICY_TYPES, *POLICY_ATTACHMENT_TYPES),
)
def iam_no_wildcard_resource(res: Resource, env: Environment) -> Iterator[str]:
    for _arn, name in _managed_policies(res):
        if name in AWS_MANAGED_WILDCARD_RESOURCE:
            yield f"attaches the AWS managed policy {name}: {AWS_MANAGED_WILDCARD_RESOURCE[name]} (Resource '*')"
    for label, statement in _allow_statements(res):
        resources = [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]
        if "NotResource" in statement:
            yield f"{label} statement {_sid(statement)} uses NotResource"
        wildcards = [r for r in resources if r == "*" or EVERY_RESOURCE_OF_A_TYPE.match(r)]
        if not wildcards:
            continue
        actions = [a for a in as_list(statement.get("Action")) if isinstance(a, str)]
        needing_arns = [
            a
            for a in actions
            if a not in RESOURCE_STAR_ACTIONS
            and not (a in ACCOUNT_LEVEL_LIST_ACTIONS and all(ACCOUNT_LEVEL_LIST_ACTIONS[a].match(w) for w in wildcards))
        ]
        if needing_arns:
            shown = "'*'" if "*" in wildcards else ", ".join(repr(w) for w in wildcards) + " (every resource of the type)"
            yield f"{label} statement {_sid(statement)} grants {', '.join(needing_arns)} on Resource {shown}"


EXECUTION_POLICY = "AmazonECSTaskExecutionRolePolicy"


@rule(
    "ecs-distinct-task-roles",
    title="Task execution role and task role are different roles",
    controls=("CKV_AWS_249",),
    fix="Create two roles: the execution role (pull image, write logs, read the task's secrets) and the task "
    "role (what the application itself calls); never attach AmazonECSTaskExecutionRolePolicy to the task role.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the task definition and its roles.",
)
def ecs_distinct_roles(view: View, env: Environment) -> Iterator[Finding]:
    for task in view.of_type(TASK_DEFINITION):
        task_role, execution_role = text(task.get("taskRoleArn")), text(task.get("executionRoleArn"))
        if not task_role:
            continue  # the containers get no AWS credentials at all
        if task_role == execution_role:
            yield Finding(task, "taskRoleArn and executionRoleArn are the same role: the application can do what the agent can")
            continue
        task_roles = referenced(view, task, "taskRoleArn", IAM_ROLE)
        execution_roles = referenced(view, task, "executionRoleArn", IAM_ROLE)
        if {r.urn for r in task_roles} & {r.urn for r in execution_roles}:
            yield Finding(task, "taskRoleArn and executionRoleArn resolve to the same role")
        for role in task_roles:
            attached = [a for a in view.of_type(IAM_ROLE_POLICY_ATTACHMENT) if refers(a, "role", role)]
            arns = [text(a.get("policyArn")) for a in attached] + [text(p) for p in as_list(role.get("managedPolicyArns"))]
            if any(arn.endswith(EXECUTION_POLICY) for arn in arns):
                yield Finding(role, f"the task role has {EXECUTION_POLICY} attached")


# == ECS and ECR ===================================================================================
@rule(
    "ecs-container-insights",
    title="ECS clusters have Container Insights",
    controls=("FSBP ECS.12",),
    fix="Set settings=[{name: 'containerInsights', value: 'enabled'}] on the cluster.",
    types=(ECS_CLUSTER,),
)
def ecs_container_insights(res: Resource, env: Environment) -> Iterator[str]:
    values = [text(get(s, "value")) for s in as_list(res.get("settings")) if get(s, "name") == "containerInsights"]
    if not any(v in ("enabled", "enhanced") for v in values):
        yield "Container Insights is not enabled"


def _containers(res: Resource) -> Iterator[Any]:
    raw = res.get("containerDefinitions")
    parsed = parse_json(raw)
    if raw == SECRET:
        yield {"name": "(secret)", "__secret__": True}
        return
    for container in as_list(parsed):
        if is_mapping(container):
            yield container


def _container_name(container: Any) -> str:
    return repr(container.get("name", "?"))


@rule(
    "ecs-container-logging",
    title="Every container sends its logs somewhere",
    controls=("FSBP ECS.9",),
    fix="Give every container a logConfiguration (awslogs to the service's encrypted log group).",
    types=(TASK_DEFINITION,),
)
def ecs_container_logging(res: Resource, env: Environment) -> Iterator[str]:
    for container in _containers(res):
        if container.get("__secret__"):
            continue  # reported by ecs-no-secrets-in-environment
        if not get(container, "logConfiguration.logDriver"):
            yield f"container {_container_name(container)} has no logConfiguration"


AWS_CREDENTIAL_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "ECS_ENGINE_AUTH_DATA"}
SECRET_NAME = re.compile(
    r"passw(or)?d|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|signing[_-]?key", re.I
)
HARMLESS_SUFFIX = re.compile(
    r"[_-](arns?|names?|ids?|urls?|uri|ttl|file|path|header|region|length|seconds|enabled|kind|type)$", re.I
)
CREDENTIAL_VALUE = re.compile(
    r"\b(AKIA|ASIA)[0-9A-Z]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----|\b(ghp|gho|xox[abp]|sk_live)_?[A-Za-z0-9]{10,}"
)


@rule(
    "ecs-no-secrets-in-environment",
    title="No credentials in container environment variables",
    controls=("FSBP ECS.8",),
    fix="Pass secrets with the container's `secrets` (valueFrom: <Secrets Manager ARN>), read by the execution role; "
    "never put a secret Output into containerDefinitions.",
    types=(TASK_DEFINITION,),
)
def ecs_no_secrets_in_environment(res: Resource, env: Environment) -> Iterator[str]:
    for container in _containers(res):
        if container.get("__secret__"):
            yield "containerDefinitions is a secret value: a secret was interpolated into the task definition"
            continue
        for variable in as_list(container.get("environment")):
            name, value = text(get(variable, "name")), get(variable, "value")
            value = value if isinstance(value, str) else str(value if value is not None else "")
            if name.upper() in AWS_CREDENTIAL_NAMES:
                yield f"container {_container_name(container)} sets {name} in its environment"
            elif value == SECRET or CREDENTIAL_VALUE.search(value):
                yield f"container {_container_name(container)}: environment variable {name} holds a credential-like value"
            elif SECRET_NAME.search(name) and not HARMLESS_SUFFIX.search(name) and value and not value.startswith("arn:"):
                yield f"container {_container_name(container)}: environment variable {name} looks like a credential"


@rule(
    "ecs-readonly-root-filesystem",
    title="Containers run with a read-only root filesystem",
    controls=("FSBP ECS.5",),
    fix="Set readonlyRootFilesystem: true on every container (mount a tmpfs/volume where it must write).",
    types=(TASK_DEFINITION,),
)
def ecs_readonly_root(res: Resource, env: Environment) -> Iterator[str]:
    for container in _containers(res):
        if not container.get("__secret__") and container.get("readonlyRootFilesystem") is not True:
            yield f"container {_container_name(container)} can write to its root filesystem"


@rule(
    "ecs-not-privileged",
    title="Containers are not privileged",
    controls=("FSBP ECS.4",),
    fix="Remove privileged: true from the container definition.",
    types=(TASK_DEFINITION,),
)
def ecs_not_privileged(res: Resource, env: Environment) -> Iterator[str]:
    for container in _containers(res):
        if container.get("privileged") is True:
            yield f"container {_container_name(container)} is privileged"


@rule(
    "ecr-scan-on-push",
    title="ECR repositories scan images on push",
    controls=("FSBP ECR.1",),
    fix="Set image_scanning_configuration={scan_on_push: True} on the repository.",
    types=(ECR_REPOSITORY,),
)
def ecr_scan_on_push(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(get(first(res.get("imageScanningConfiguration")) or {}, "scanOnPush")):
        yield "scanOnPush is not true"


@rule(
    "ecr-immutable-tags",
    title="ECR image tags are immutable",
    controls=("FSBP ECR.2",),
    fix="Set image_tag_mutability='IMMUTABLE' on the repository (deploy by unique tags or digests).",
    types=(ECR_REPOSITORY,),
)
def ecr_immutable_tags(res: Resource, env: Environment) -> Iterator[str]:
    if not text(res.get("imageTagMutability")).startswith("IMMUTABLE"):
        yield f"imageTagMutability is {res.get('imageTagMutability') or 'MUTABLE (default)'}"


@rule(
    "ecr-lifecycle-policy",
    title="ECR repositories have a lifecycle policy",
    controls=("FSBP ECR.3",),
    fix="Add an aws.ecr.LifecyclePolicy(repository=repo.name, policy=...) that expires untagged and old images.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the repository.",
)
def ecr_lifecycle(view: View, env: Environment) -> Iterator[Finding]:
    yield from _unreferenced(
        view,
        ECR_REPOSITORY,
        by=ECR_LIFECYCLE_POLICY,
        through="repository",
        message="no lifecycle policy: images accumulate forever",
    )


# == naming ========================================================================================
NAME_KEYS = (
    "name",
    "namePrefix",
    "clusterIdentifier",
    "identifier",
    "identifierPrefix",
    "bucket",
    "bucketPrefix",
    "finalSnapshotIdentifier",
    "functionName",
    "policyName",
)
# `family` names a task definition; on a parameter group it is the engine family (aurora-postgresql16).
NAME_KEYS_BY_TYPE = {TASK_DEFINITION: ("family",)}
# Names that are DNS names or scoped inside their parent, not names of their own.
UNNAMED_TYPES = ("aws:route53/*", "aws:acm/*", IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY)


def _carries(value: str, suffix: str) -> bool:
    return re.search(rf"(?:^|[^a-z0-9]){re.escape(suffix)}(?:$|[^a-z0-9])", value) is not None


@rule(
    "names-carry-suffix",
    title="Every named resource carries the environment suffix",
    controls=("MLAPI naming (environmentSuffix)",),
    fix="Build the name with env.name('<part>', kind=...) (or env.namer.log_group(...)); never spell a name by hand.",
    types=("aws:*",),
)
def names_carry_suffix(res: Resource, env: Environment) -> Iterator[str]:
    import fnmatch

    if any(fnmatch.fnmatchcase(res.type, pattern) for pattern in UNNAMED_TYPES):
        return
    values = [(key, res.get(key)) for key in (*NAME_KEYS, *NAME_KEYS_BY_TYPE.get(res.type, ()))]
    values.append(("tags.Name", res.get("tags.Name")))
    for key, value in values:
        if isinstance(value, str) and value not in (SECRET, UNKNOWN) and value and not _carries(value, env.suffix):
            yield f"{key} {value!r} does not contain the environment suffix {env.suffix!r}"


# The literal region/account rule needs two renderings of the whole plan: see literals.py.
from . import literals  # noqa: E402,F401  (registers no-literal-region-or-account)
