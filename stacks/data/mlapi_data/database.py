"""Aurora PostgreSQL Serverless v2: subnet group, parameter group, log group, cluster and its
db.serverless instances. RDS generates, stores and rotates the master password in Secrets
Manager, so no password exists in code, config or state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from shared.errors import PlatformError
from shared.naming import Namer
from shared.tags import name_tag

from .settings import ENGINE, SECONDS_UNTIL_AUTO_PAUSE

INSTANCE_CLASS = "db.serverless"
LOG_EXPORTS = ("postgresql",)
# Random bytes appended to the final snapshot's name (8 hex digits): RDS refuses a final snapshot
# whose name is taken, and the snapshot outlives the cluster, so every cluster needs its own.
FINAL_SNAPSHOT_ID_BYTES = 4


def cluster_identifier(namer: Namer) -> str:
    return namer.name("aurora", kind="rds")


def postgres_log_group_name(identifier: str) -> str:
    """The group RDS exports PostgreSQL logs to: its name is fixed by RDS."""
    return f"/aws/rds/cluster/{identifier}/postgresql"


def final_snapshot_identifier(namer: Namer, unique: pulumi.Input[str]) -> pulumi.Output[str]:
    """``mlapi-aurora-final-<suffix>-<unique>``: lowercase hex after the validated suffix keeps it
    within RDS's snapshot rules (a letter first, letters, digits and single hyphens, no trailing
    hyphen, at most 255 characters)."""
    return pulumi.Output.concat(namer.name("aurora-final", kind="rds"), "-", unique)


@dataclass(frozen=True)
class DatabaseArgs:
    namer: Namer
    kms_key_arn: pulumi.Input[str]
    # Resources that exist only once KMS knows the key (its alias): the log group waits for them.
    key_ready: Sequence[pulumi.Resource]
    subnet_ids: pulumi.Input[list[str]]
    availability_zones: pulumi.Output[list[str]]
    security_group_id: pulumi.Input[str]
    port: pulumi.Input[int]
    engine_version: str
    parameter_group_family: str
    min_capacity: float
    max_capacity: float
    auto_pause: bool  # DataSettings.auto_pause: minCapacity 0, on a version that supports it
    reader_instance: bool
    database_name: str
    master_username: str
    backup_retention_days: int
    backup_window: str
    maintenance_window: str
    log_retention_days: int
    # Deletion protection on (EnvironmentSettings.blocks_deletion).
    blocks_deletion: bool
    # Final snapshot taken and automated backups kept on deletion (EnvironmentSettings.keeps_data).
    keeps_data: bool


class Database(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:data:Database", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        identifier = cluster_identifier(n)

        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=n.name("db-subnets", kind="rds"),
            description="Private subnets of the ML API Aurora cluster",
            subnet_ids=args.subnet_ids,
            tags=name_tag(n.name("db-subnets")),
            opts=child,
        )
        # The family is part of the name: a major-version upgrade needs a new group, and a distinct
        # name lets the new one exist before the old one is deleted.
        pg_name = n.name(f"aurora-pg{args.parameter_group_family.removeprefix(ENGINE)}", kind="rds")
        self.parameter_group = aws.rds.ClusterParameterGroup(
            f"{name}-params",
            name=pg_name,
            family=args.parameter_group_family,
            description="ML API Aurora PostgreSQL: TLS required",
            parameters=[
                # Refuse unencrypted connections: credentials and data cross the VPC only over TLS.
                aws.rds.ClusterParameterGroupParameterArgs(name="rds.force_ssl", value="1", apply_method="pending-reboot"),
            ],
            tags=name_tag(pg_name),
            opts=child,
        )
        # Created here rather than by RDS on first export, so it has a retention, the key, and is
        # deleted with the stack.
        log_group_name = postgres_log_group_name(identifier)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-postgresql-logs",
            name=log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=name_tag(log_group_name),
            # CloudWatch Logs refuses a KMS key created seconds earlier ("does not exist or is not
            # allowed"); the provider retries the key's alias until KMS knows the key.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.key_ready)),
        )

        # Kept in the stack's state, so the name is stable across updates; a new stack (a re-created
        # environment) or a new cluster (any keeper changing forces RDS to replace it) draws another.
        self.final_snapshot_id: random.RandomId | None = None
        if args.keeps_data:
            self.final_snapshot_id = random.RandomId(
                f"{name}-final-snapshot-id",
                byte_length=FINAL_SNAPSHOT_ID_BYTES,
                keepers={
                    "clusterIdentifier": identifier,
                    "kmsKeyId": args.kms_key_arn,
                    "databaseName": args.database_name,
                    "masterUsername": args.master_username,
                },
                opts=child,
            )

        self.cluster = aws.rds.Cluster(
            f"{name}-cluster",
            cluster_identifier=identifier,
            engine=ENGINE,
            engine_mode="provisioned",
            # A major-version track ("16") lets AWS choose its current default minor and automatic
            # minor upgrades keep it patched; the provider matches it as a prefix of the running
            # version, so those upgrades show no diff. See README "Engine version".
            engine_version=args.engine_version,
            serverlessv2_scaling_configuration=aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=args.min_capacity,
                max_capacity=args.max_capacity,
                # Applies only at 0 ACUs (auto-pause), so it is sent only then.
                seconds_until_auto_pause=SECONDS_UNTIL_AUTO_PAUSE if args.auto_pause else None,
            ),
            database_name=args.database_name,
            master_username=args.master_username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.kms_key_arn,
            iam_database_authentication_enabled=True,
            port=args.port,
            db_subnet_group_name=self.subnet_group.name,
            db_cluster_parameter_group_name=self.parameter_group.name,
            vpc_security_group_ids=[args.security_group_id],
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            backup_retention_period=args.backup_retention_days,
            preferred_backup_window=args.backup_window,
            preferred_maintenance_window=args.maintenance_window,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            deletion_protection=args.blocks_deletion,
            skip_final_snapshot=not args.keeps_data,
            final_snapshot_identifier=(
                final_snapshot_identifier(n, self.final_snapshot_id.hex) if self.final_snapshot_id is not None else None
            ),
            # A protected environment keeps its automated backups after the cluster is deleted.
            delete_automated_backups=not args.keeps_data,
            tags=name_tag(identifier),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )

        # The first instance in the first AZ, the optional second one (a reader) in the second AZ, so
        # a failover survives the loss of one AZ. RDS makes whichever instance it creates first the
        # writer, so the reader waits for the first one: otherwise the two race and the writer lands
        # in either AZ. Instances in promotion tiers 0-1 scale with the writer, so the one a failover
        # promotes is never under-sized.
        count = 2 if args.reader_instance else 1
        self.instances: list[aws.rds.ClusterInstance] = []
        for index in range(count):
            instance_id = n.name(f"aurora-{index + 1}", kind="rds")
            self.instances.append(
                aws.rds.ClusterInstance(
                    f"{name}-instance-{index + 1}",
                    identifier=instance_id,
                    cluster_identifier=self.cluster.id,
                    engine=aws.rds.EngineType(ENGINE),
                    instance_class=INSTANCE_CLASS,
                    availability_zone=args.availability_zones.apply(_zone_at(index)),
                    promotion_tier=index,
                    db_subnet_group_name=self.subnet_group.name,
                    publicly_accessible=False,
                    auto_minor_version_upgrade=True,
                    # Each instance has its own window (AWS picks a random one when none is given):
                    # keep instance patching and minor upgrades in the cluster's window, which is
                    # validated not to overlap the backup window.
                    preferred_maintenance_window=args.maintenance_window,
                    tags=name_tag(instance_id),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=self.instances[:1]),
                )
            )

        self.master_secret_arn: pulumi.Output[str] = self.cluster.master_user_secrets.apply(_secret_arn)
        self.register_outputs({"clusterEndpoint": self.cluster.endpoint, "masterSecretArn": self.master_secret_arn})


def _zone_at(index: int) -> Callable[[list[str]], str]:
    return lambda zones: zones[index]


def _secret_arn(secrets: Sequence[aws.rds.outputs.ClusterMasterUserSecret] | None) -> str:
    if not secrets or not secrets[0].secret_arn:
        raise PlatformError(
            "the Aurora cluster reports no RDS-managed master user secret; "
            "manage_master_user_password must stay on (no password is kept anywhere else)"
        )
    return secrets[0].secret_arn
