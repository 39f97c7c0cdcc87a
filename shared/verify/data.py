"""Data layer: the Aurora cluster, its master secret and the session table."""

from __future__ import annotations

from typing import Any

from .core import Context, Failed, check


def _cluster(ctx: Context) -> dict[str, Any]:
    rds = ctx.client("rds")
    try:
        clusters = rds.describe_db_clusters(DBClusterIdentifier=ctx.out("clusterIdentifier"))["DBClusters"]
    except rds.exceptions.DBClusterNotFoundFault:
        raise Failed(f"cluster {ctx.out('clusterIdentifier')} does not exist") from None
    return dict(clusters[0])


@check("data", "aurora-available", needs=("clusterIdentifier",))
def aurora_available(ctx: Context) -> str:
    cluster = _cluster(ctx)
    if cluster["Status"] != "available":
        raise Failed(f"{cluster['DBClusterIdentifier']} is {cluster['Status']}")
    return f"{cluster['DBClusterIdentifier']} available ({cluster.get('Engine')} {cluster.get('EngineVersion')})"


@check("data", "aurora-encrypted", needs=("clusterIdentifier", "kmsKeyArn"))
def aurora_encrypted(ctx: Context) -> str:
    cluster = _cluster(ctx)
    if not cluster.get("StorageEncrypted"):
        raise Failed("storage is not encrypted")
    if cluster.get("KmsKeyId") != ctx.out("kmsKeyArn"):
        raise Failed(f"encrypted with {cluster.get('KmsKeyId')}, not the layer's key {ctx.out('kmsKeyArn')}")
    return f"encrypted with {cluster['KmsKeyId']}"


@check("data", "aurora-capacity", needs=("clusterIdentifier",))
def aurora_capacity(ctx: Context) -> str:
    scaling = _cluster(ctx).get("ServerlessV2ScalingConfiguration")
    if not scaling:
        raise Failed("no Serverless v2 scaling configuration")
    low, high = float(scaling["MinCapacity"]), float(scaling["MaxCapacity"])
    want = ctx.expected.get("capacity")
    if want is not None and (low, high) != tuple(map(float, want)):
        raise Failed(f"{low:g}-{high:g} ACUs, but the data layer's settings ask for {float(want[0]):g}-{float(want[1]):g}")
    if not 0 <= low <= high:
        raise Failed(f"{low:g}-{high:g} ACUs is not a range")
    return f"{low:g}-{high:g} ACUs" + (" (as configured)" if want is not None else "")


@check("data", "aurora-deletion-protection", needs=("clusterIdentifier", "protected", "decommissioning"))
def aurora_deletion_protection(ctx: Context) -> str:
    # The layer turns it on exactly for protected environments that are not being decommissioned.
    want = bool(ctx.out("protected")) and not bool(ctx.out("decommissioning"))
    have = bool(_cluster(ctx).get("DeletionProtection"))
    mode = "protected" if ctx.out("protected") else "ephemeral"
    if ctx.out("decommissioning"):
        mode += ", decommissioning"
    if have != want:
        raise Failed(f"deletion protection is {'on' if have else 'off'} in a {mode} environment (want {'on' if want else 'off'})")
    return f"{'on' if have else 'off'} ({mode})"


@check("data", "master-secret-rotates", needs=("clusterIdentifier", "masterSecretArn"))
def master_secret_rotates(ctx: Context) -> str:
    arn = ctx.out("masterSecretArn")
    managed = (_cluster(ctx).get("MasterUserSecret") or {}).get("SecretArn")
    if managed and managed != arn:
        raise Failed(f"the cluster's master secret is {managed}, not {arn}")
    secret = ctx.client("secretsmanager").describe_secret(SecretId=arn)
    if not secret.get("RotationEnabled"):
        raise Failed(f"{secret['Name']} does not rotate")
    days = (secret.get("RotationRules") or {}).get("AutomaticallyAfterDays")
    return f"{secret['Name']} rotates" + (f" every {days} days" if days else "")


def _table(ctx: Context) -> dict[str, Any]:
    return dict(ctx.client("dynamodb").describe_table(TableName=ctx.out("sessionTableName"))["Table"])


@check("data", "session-table-ttl", needs=("sessionTableName",))
def session_ttl(ctx: Context) -> str:
    ttl = ctx.client("dynamodb").describe_time_to_live(TableName=ctx.out("sessionTableName"))["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") != "ENABLED":
        raise Failed(f"TTL is {ttl.get('TimeToLiveStatus', 'DISABLED')}")
    return f"TTL on attribute {ttl['AttributeName']}"


@check("data", "session-table-pitr", needs=("sessionTableName",))
def session_pitr(ctx: Context) -> str:
    backups = ctx.client("dynamodb").describe_continuous_backups(TableName=ctx.out("sessionTableName"))
    status = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    if status != "ENABLED":
        raise Failed(f"point-in-time recovery is {status or 'DISABLED'}")
    return "point-in-time recovery ENABLED"


@check("data", "session-table-key", needs=("sessionTableName", "kmsKeyArn"))
def session_key(ctx: Context) -> str:
    sse = _table(ctx).get("SSEDescription") or {}
    if sse.get("Status") != "ENABLED" or sse.get("SSEType") != "KMS":
        raise Failed(f"encryption {sse.get('Status', 'AWS owned key')} {sse.get('SSEType', '')}".strip())
    if sse.get("KMSMasterKeyArn") != ctx.out("kmsKeyArn"):
        raise Failed(f"encrypted with {sse.get('KMSMasterKeyArn')}, not the layer's key {ctx.out('kmsKeyArn')}")
    return f"encrypted with {sse['KMSMasterKeyArn']}"
