"""Data layer: settings -> components -> exports."""

from mlapi_data.database import Database, DatabaseArgs, cluster_identifier, postgres_log_group_name
from mlapi_data.key import DataKey, DataKeyArgs
from mlapi_data.sessions import SessionTable, SessionTableArgs
from mlapi_data.settings import LAYER, DataSettings, secrets_in_account
from mlapi_data.upstream import read_network
from shared import contracts
from shared.aws_identity import AwsIdentity
from shared.provider import aws_provider, with_provider

settings = DataSettings.load()
env = settings.env
provider = aws_provider(env)
opts = with_provider(provider)
network = read_network(env)

identity = AwsIdentity.lookup(provider)

key = DataKey(
    "data-key",
    DataKeyArgs(
        namer=env.namer,
        region=env.region,
        identity=identity,
        # This layer's PostgreSQL log group, and every group under /mlapi/<suffix>/ (the compute
        # layer's service logs, which are encrypted with this key too).
        log_group_names=[postgres_log_group_name(cluster_identifier(env.namer)), env.namer.log_group("*")],
        deletion_window_days=env.key_deletion_window_days,
        # keeps_data: the final snapshot and kept backups stay readable after a destroy.
        retain_on_delete=env.keeps_data,
    ),
    opts,
)
database = Database(
    "aurora",
    DatabaseArgs(
        namer=env.namer,
        kms_key_arn=key.key.arn,
        key_ready=[key.alias],
        subnet_ids=network.private_subnet_ids,
        availability_zones=network.availability_zones,
        security_group_id=network.database_security_group_id,
        port=network.database_port,
        engine_version=settings.engine_version,
        parameter_group_family=settings.parameter_group_family,
        min_capacity=settings.min_capacity,
        max_capacity=settings.max_capacity,
        auto_pause=settings.auto_pause,
        reader_instance=settings.runs_reader,
        database_name=settings.database_name,
        master_username=settings.master_username,
        backup_retention_days=settings.backup_retention_days,
        backup_window=settings.backup_window,
        maintenance_window=settings.maintenance_window,
        log_retention_days=settings.log_retention_days,
        blocks_deletion=env.blocks_deletion,
        keeps_data=env.keeps_data,
    ),
    opts,
)
sessions = SessionTable(
    "sessions", SessionTableArgs(namer=env.namer, kms_key_arn=key.key.arn, blocks_deletion=env.blocks_deletion), opts
)

cluster = database.cluster
contracts.export(
    LAYER,
    {
        "clusterEndpoint": cluster.endpoint,
        "readerEndpoint": cluster.reader_endpoint,
        "databasePort": cluster.port,
        "databaseName": cluster.database_name,
        "clusterIdentifier": cluster.cluster_identifier,
        "clusterArn": cluster.arn,
        "masterSecretArn": database.master_secret_arn,
        "sessionTableName": sessions.table.name,
        "sessionTableArn": sessions.table.arn,
        "kmsKeyArn": key.key.arn,
        # Refused (ConfigError) when a secret lives in another account: the tasks could never read it.
        "applicationSecretArns": identity.account_id.apply(
            lambda account: secrets_in_account(settings.application_secret_arns, account)
        ),
        "protected": env.protect,
        "decommissioning": env.decommission,
    },
)
