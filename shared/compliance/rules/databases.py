"""Databases: private, managed credentials, protected (and destroyable) as the environment asks."""

from __future__ import annotations

from collections.abc import Iterator

from ...aws_types import (
    DYNAMODB_TABLE,
    ECR_REPOSITORY,
    LOAD_BALANCERS,
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    RDS_INSTANCE,
    RDS_SUBNET_GROUP,
    S3_BUCKETS,
    SUBNET,
)
from ..model import (
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    first,
    get,
    refers,
    text,
    truthy,
)
from ..registry import AppliesTo, Scope, rule
from ._common import public_subnet_reasons


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


@rule(
    "database-in-private-subnets",
    title="Database subnet groups use only private subnets",
    controls=("FSBP RDS.2",),
    fix="Build the DB subnet group from the network layer's privateSubnetIds.",
    scope=Scope.STACK,
    pack_note="The subnets live in the network stack; a data stack alone cannot see their routes.",
)
def database_in_private_subnets(view: View, env: Environment) -> Iterator[Finding]:
    public = public_subnet_reasons(view)
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
