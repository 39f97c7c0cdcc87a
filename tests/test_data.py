"""The data layer, rendered through its real program (after the network layer) under the mock runtime."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
from conftest import layer_of, plan_layers, policy

from shared import contracts
from shared.config import ConfigReader
from shared.errors import ConfigError
from shared.plan.mocks import MOCK_ACCOUNT_ID
from shared.settings import EnvironmentSettings

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
RANDOM_ID = "random:index/randomId:RandomId"
TABLE = "aws:dynamodb/table:Table"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
REGION = "eu-west-1"
SUFFIX = "datademo"
OTHER_ACCOUNT = "444455556666"


def secret_arn(name: str, region: str = REGION, account: str = MOCK_ACCOUNT_ID) -> str:
    """A secret in the environment's account (the mock runtime's) unless ``account`` says otherwise."""
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbC123"


@pytest.fixture(scope="module")
def plan():
    return plan_layers("data", env=SUFFIX, region=REGION)


@pytest.fixture(scope="module")
def data(plan):
    return layer_of(plan, "data")


@pytest.fixture(scope="module")
def net(plan):
    return layer_of(plan, "network")


@pytest.fixture(scope="module")
def protected_plan():
    # `protect` is environment-wide: set for every layer, as environments/<env>.yaml does.
    return plan_layers("data", env=SUFFIX, region=REGION, config={"network": {"protect": True}, "data": {"protect": True}})


@pytest.fixture(scope="module")
def decommissioning_plan():
    # What environments/<env>.yaml with `protect: true` and `decommission: true` gives every layer.
    both = {"protect": True, "decommission": True}
    return plan_layers("data", env=SUFFIX, region=REGION, config={"network": both, "data": both})


# RDS's rules for a DB cluster snapshot identifier: a letter first, then letters, digits and single
# hyphens, no trailing hyphen, 1 to 255 characters (the platform's names are lowercase).
SNAPSHOT_IDENTIFIER = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*")


def final_snapshot_name(rendered) -> str:
    """The final snapshot identifier the cluster is given, checked against the RandomId it is built from."""
    random_id = rendered.one(RANDOM_ID)
    identifier = rendered.one(CLUSTER).inputs["finalSnapshotIdentifier"]
    assert identifier == f"mlapi-aurora-final-{rendered.stack}-{random_id.state['hex']}"
    return identifier


def key_arn(data) -> str:
    return data.one(KEY).state["arn"]


def statements(data) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy(data.one(KEY).inputs["policy"])["Statement"]}


# --- wiring --------------------------------------------------------------------------------------


def test_plan_renders_network_then_data_through_a_stack_reference(plan, data, net):
    assert [lp.layer.name for lp in plan.layers] == ["network", "data"]
    (ref,) = data.of_type("pulumi:pulumi:StackReference")
    assert ref.name == f"organization/mlapi-network/{SUFFIX}"
    cluster = data.one(CLUSTER).inputs
    assert cluster["vpcSecurityGroupIds"] == [net.outputs["databaseSecurityGroupId"]]
    assert cluster["port"] == net.outputs["databasePort"] == data.outputs["databasePort"] == 5432
    subnets = data.one("aws:rds/subnetGroup:SubnetGroup")
    assert subnets.inputs["subnetIds"] == net.outputs["privateSubnetIds"]
    assert cluster["dbSubnetGroupName"] == subnets.inputs["name"]
    # No network resource is declared here: only reads.
    assert not [r for r in data.registrations if r.type.startswith(("aws:ec2/", "aws:vpc/"))]


def test_database_port_follows_the_network_layer():
    rendered = layer_of(plan_layers("data", config={"network": {"databasePort": 6432}}), "data")
    assert rendered.one(CLUSTER).inputs["port"] == 6432
    assert rendered.outputs["databasePort"] == 6432


def test_exports_match_the_contract_and_the_resources(data):
    assert set(data.outputs) == set(contracts.CONTRACTS["data"])
    cluster = data.one(CLUSTER)
    table = data.one(TABLE)
    assert data.outputs["clusterEndpoint"] == cluster.state["endpoint"]
    assert data.outputs["clusterEndpoint"].endswith(f".{REGION}.rds.amazonaws.com")
    assert data.outputs["readerEndpoint"] == cluster.state["readerEndpoint"]
    assert data.outputs["clusterIdentifier"] == cluster.inputs["clusterIdentifier"] == f"mlapi-aurora-{SUFFIX}"
    assert data.outputs["clusterArn"] == cluster.state["arn"]
    assert data.outputs["databaseName"] == "mlapi"
    assert data.outputs["sessionTableName"] == table.inputs["name"] == f"mlapi-sessions-{SUFFIX}"
    assert data.outputs["sessionTableArn"] == table.state["arn"]
    assert data.outputs["kmsKeyArn"] == key_arn(data)
    assert data.outputs["applicationSecretArns"] == {}
    assert data.outputs["protected"] is False


# --- key -----------------------------------------------------------------------------------------


def test_key_rotates_has_an_alias_and_a_short_window_when_ephemeral(data):
    key = data.one(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 7
    alias = data.one("aws:kms/alias:Alias").inputs
    assert alias["name"] == f"alias/mlapi-data-{SUFFIX}"
    assert alias["targetKeyId"] == key.state["keyId"]


def test_key_policy_lets_only_the_services_that_use_it_do_so(data):
    by_sid = statements(data)
    assert set(by_sid) == {"AccountAdministersKey", "CloudWatchLogsUseKey", "ServicesUseKeyForThisAccount"}
    root = by_sid["AccountAdministersKey"]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:root"}

    services = by_sid["ServicesUseKeyForThisAccount"]
    condition = services["Condition"]["StringEquals"]
    assert condition["kms:CallerAccount"] == MOCK_ACCOUNT_ID
    assert sorted(condition["kms:ViaService"]) == sorted(
        f"{svc}.{REGION}.amazonaws.com" for svc in ("rds", "secretsmanager", "dynamodb")
    )
    assert "kms:*" not in services["Action"] and "*" not in services["Action"]
    assert {"kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*"} <= set(services["Action"])

    logs = by_sid["CloudWatchLogsUseKey"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert not any(action.endswith(":*") for action in logs["Action"])


def test_key_policy_covers_the_postgres_log_group_and_the_compute_log_groups_only(data):
    patterns = statements(data)["CloudWatchLogsUseKey"]["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    prefix = f"arn:aws:logs:{REGION}:{MOCK_ACCOUNT_ID}:log-group:"
    assert sorted(patterns) == sorted(
        [f"{prefix}/aws/rds/cluster/mlapi-aurora-{SUFFIX}/postgresql", f"{prefix}/mlapi/{SUFFIX}/*"]
    )

    def allowed(arn: str) -> bool:
        return any(fnmatch.fnmatchcase(arn, p) for p in patterns)

    assert allowed(data.one(LOG_GROUP).state["arn"])  # the group this layer creates
    assert allowed(f"{prefix}/mlapi/{SUFFIX}/api")  # the compute layer's service logs
    assert not allowed(f"{prefix}/mlapi/other-env/api")
    assert not allowed(f"{prefix}/aws/rds/cluster/mlapi-aurora-other/postgresql")
    assert not allowed(f"arn:aws:logs:{REGION}:{OTHER_ACCOUNT}:log-group:/mlapi/{SUFFIX}/api")


def test_every_store_secret_and_log_group_is_encrypted_with_the_key(data):
    arn = key_arn(data)
    cluster = data.one(CLUSTER).inputs
    assert cluster["storageEncrypted"] is True and cluster["kmsKeyId"] == arn
    assert cluster["masterUserSecretKmsKeyId"] == arn
    table = data.one(TABLE).inputs
    assert table["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": arn}
    for group in data.of_type(LOG_GROUP):
        assert group.inputs["kmsKeyId"] == arn


# --- Aurora --------------------------------------------------------------------------------------


def test_aurora_serverless_v2_defaults(data):
    cluster = data.one(CLUSTER).inputs
    assert cluster["engine"] == "aurora-postgresql" and cluster["engineMode"] == "provisioned"
    assert cluster["engineVersion"] == "16"
    assert cluster["serverlessv2ScalingConfiguration"] == {"minCapacity": 0.5, "maxCapacity": 2}
    assert cluster["iamDatabaseAuthenticationEnabled"] is True
    assert cluster["backupRetentionPeriod"] == 7
    assert cluster["preferredBackupWindow"] == "03:00-04:00"
    assert cluster["preferredMaintenanceWindow"] == "sun:04:30-sun:05:30"
    assert cluster["copyTagsToSnapshot"] is True
    assert cluster["enabledCloudwatchLogsExports"] == ["postgresql"]
    assert cluster["databaseName"] == "mlapi" and cluster["masterUsername"] == "mlapi_admin"
    (instance,) = data.of_type(INSTANCE)
    assert instance.inputs["instanceClass"] == "db.serverless"
    assert instance.inputs["publiclyAccessible"] is False
    assert instance.inputs["clusterIdentifier"] == data.one(CLUSTER).id
    assert instance.inputs["promotionTier"] == 0
    assert instance.inputs["dbSubnetGroupName"] == cluster["dbSubnetGroupName"]
    # Not a random window of AWS's choosing: the cluster's, which avoids the backup window.
    assert instance.inputs["preferredMaintenanceWindow"] == cluster["preferredMaintenanceWindow"]


def test_cluster_parameter_group_requires_tls(data):
    group = data.one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs
    assert group["family"] == "aurora-postgresql16"
    assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "pending-reboot"} in group["parameters"]
    assert data.one(CLUSTER).inputs["dbClusterParameterGroupName"] == group["name"]


def test_postgres_log_group_is_the_one_rds_exports_to_with_retention(data):
    (group,) = data.of_type(LOG_GROUP)
    identifier = data.one(CLUSTER).inputs["clusterIdentifier"]
    assert group.inputs["name"] == f"/aws/rds/cluster/{identifier}/postgresql"
    assert group.inputs["retentionInDays"] == 30


def test_no_password_in_inputs_state_or_outputs_only_the_managed_secret_arn(plan, data):
    cluster = data.one(CLUSTER)
    assert cluster.inputs["manageMasterUserPassword"] is True
    assert "masterPassword" not in cluster.inputs and "masterPasswordWo" not in cluster.inputs
    document = json.dumps(plan.document())
    assert "masterPassword" not in document
    managed = cluster.state["masterUserSecrets"][0]["secretArn"]
    assert data.outputs["masterSecretArn"] == managed
    assert managed.startswith(f"arn:aws:secretsmanager:{REGION}:{MOCK_ACCOUNT_ID}:secret:rds!cluster-")
    # No Secrets Manager secret of our own (and so no secret value) is declared: RDS owns and rotates it.
    assert not data.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert not data.of_type("aws:secretsmanager/secret:Secret")


def test_reader_instance_goes_to_another_az():
    plan = plan_layers("data", config={"data": {"readerInstance": True}})
    rendered, net = layer_of(plan, "data"), layer_of(plan, "network")
    instances = sorted(rendered.of_type(INSTANCE), key=lambda r: r.inputs["promotionTier"])
    assert len(instances) == 2
    zones = [i.inputs["availabilityZone"] for i in instances]
    assert len(set(zones)) == 2 and set(zones) <= set(net.outputs["availabilityZones"])
    assert [i.inputs["promotionTier"] for i in instances] == [0, 1]
    assert all(i.inputs["instanceClass"] == "db.serverless" and i.inputs["publiclyAccessible"] is False for i in instances)
    assert len({i.inputs["identifier"] for i in instances}) == 2


def test_log_group_then_cluster_then_writer_then_reader(waits):
    layer_of(plan_layers("data", config={"data": {"readerInstance": True}}), "data")
    # RDS would create the log group itself (no retention, no key) if the cluster exported first.
    assert "aurora-postgresql-logs" in waits["aurora-cluster"]
    assert "aurora-cluster" in waits["aurora-instance-1"]
    # RDS makes the first instance it creates the writer: the reader must not race it.
    assert {"aurora-cluster", "aurora-instance-1"} <= waits["aurora-instance-2"]
    assert "aurora-instance-2" not in waits["aurora-instance-1"]


def test_capacity_engine_version_and_windows_come_from_config():
    rendered = layer_of(
        plan_layers(
            "data",
            config={
                "data": {
                    "minCapacity": 1,
                    "maxCapacity": 8.5,
                    "engineVersion": "15.8",
                    "backupRetentionDays": 10,
                    "backupWindow": "22:00-23:00",
                    "maintenanceWindow": "Sat:23:30-Sun:00:30",
                    "logRetentionDays": 90,
                    "readerInstance": True,
                }
            },
        ),
        "data",
    )
    cluster = rendered.one(CLUSTER).inputs
    assert cluster["serverlessv2ScalingConfiguration"] == {"minCapacity": 1, "maxCapacity": 8.5}
    assert cluster["engineVersion"] == "15.8"
    assert cluster["backupRetentionPeriod"] == 10 and cluster["preferredBackupWindow"] == "22:00-23:00"
    assert cluster["preferredMaintenanceWindow"] == "sat:23:30-sun:00:30"
    assert [i.inputs["preferredMaintenanceWindow"] for i in rendered.of_type(INSTANCE)] == ["sat:23:30-sun:00:30"] * 2
    assert rendered.one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs["family"] == "aurora-postgresql15"
    assert rendered.one(LOG_GROUP).inputs["retentionInDays"] == 90


def test_min_capacity_zero_turns_on_auto_pause():
    rendered = layer_of(plan_layers("data", config={"data": {"minCapacity": 0, "maxCapacity": 4}}), "data")
    scaling = rendered.one(CLUSTER).inputs["serverlessv2ScalingConfiguration"]
    assert scaling == {"minCapacity": 0, "maxCapacity": 4, "secondsUntilAutoPause": 300}


@pytest.mark.parametrize("version", ["16", "17", "13.15", "14.12", "15.7", "16.3", "16.10", "17.4"])
def test_auto_pause_is_accepted_from_the_versions_that_support_it(version):
    settings = load({"minCapacity": "0", "engineVersion": version})
    assert settings.auto_pause is True and settings.min_capacity == 0


def test_auto_pause_is_off_above_zero():
    assert load({}).auto_pause is False
    assert load({"minCapacity": "0.5"}).auto_pause is False


# --- DynamoDB ------------------------------------------------------------------------------------


def test_session_table_on_demand_with_ttl_and_point_in_time_recovery(data):
    table = data.one(TABLE).inputs
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["hashKey"] == "sessionId"
    assert table["attributes"] == [{"name": "sessionId", "type": "S"}]
    assert "rangeKey" not in table
    assert table["ttl"] == {"attributeName": "ttl", "enabled": True}
    assert table["pointInTimeRecovery"]["enabled"] is True


# --- destroyable by default, protectable on purpose -----------------------------------------------


def test_ephemeral_by_default_everything_destroyable(plan, data):
    cluster = data.one(CLUSTER).inputs
    assert cluster["deletionProtection"] is False
    assert cluster["skipFinalSnapshot"] is True
    assert "finalSnapshotIdentifier" not in cluster
    assert cluster["deleteAutomatedBackups"] is True
    assert not data.of_type(RANDOM_ID)  # nothing to name: no final snapshot
    assert data.one(TABLE).inputs["deletionProtectionEnabled"] is False
    assert data.one(KEY).inputs["deletionWindowInDays"] == 7
    assert data.one(KEY).retain_on_delete is False  # the key goes with the stack
    assert data.outputs["protected"] is False and data.outputs["decommissioning"] is False
    doc = plan.document()
    assert doc["protected"] is False and doc["decommissioning"] is False
    assert all(layer["protected"] is False and layer["decommissioning"] is False for layer in doc["layers"])
    assert "Mode: ephemeral" in plan.summary()


def test_protect_turns_on_deletion_protection_final_snapshots_and_longer_windows(protected_plan):
    rendered = layer_of(protected_plan, "data")
    cluster = rendered.one(CLUSTER).inputs
    assert cluster["deletionProtection"] is True
    assert cluster["skipFinalSnapshot"] is False
    assert final_snapshot_name(rendered).startswith(f"mlapi-aurora-final-{SUFFIX}-")
    assert cluster["deleteAutomatedBackups"] is False
    assert cluster["backupRetentionPeriod"] == 14  # the protected floor over the default 7
    assert rendered.one(TABLE).inputs["deletionProtectionEnabled"] is True
    assert rendered.one(KEY).inputs["deletionWindowInDays"] == 30
    # The key outlives the stack (the snapshot and kept backups are encrypted with it); its alias does not.
    assert rendered.one(KEY).retain_on_delete is True
    assert rendered.one(ALIAS).retain_on_delete is False
    # A protected database survives one AZ failure: a reader in a second AZ, without asking.
    zones = {i.inputs["availabilityZone"] for i in rendered.of_type(INSTANCE)}
    assert len(rendered.of_type(INSTANCE)) == 2 and len(zones) == 2
    assert rendered.outputs["protected"] is True and rendered.outputs["decommissioning"] is False
    doc = protected_plan.document()
    assert doc["protected"] is True and doc["decommissioning"] is False
    assert {layer["layer"]: layer["protected"] for layer in doc["layers"]} == {"network": True, "data": True}
    assert "Mode: protected" in protected_plan.summary()


def test_decommissioning_lifts_deletion_protection_and_keeps_the_data(decommissioning_plan, protected_plan):
    rendered = layer_of(decommissioning_plan, "data")
    cluster = rendered.one(CLUSTER).inputs
    # What would make `pulumi destroy` fail is lifted...
    assert cluster["deletionProtection"] is False
    assert rendered.one(TABLE).inputs["deletionProtectionEnabled"] is False
    # ...what keeps the data is not: final snapshot, automated backups, the key and its long window.
    assert cluster["skipFinalSnapshot"] is False
    assert final_snapshot_name(rendered) == layer_of(protected_plan, "data").one(CLUSTER).inputs["finalSnapshotIdentifier"]
    assert cluster["deleteAutomatedBackups"] is False
    assert cluster["backupRetentionPeriod"] == 14
    key = rendered.one(KEY)
    assert key.retain_on_delete is True and key.inputs["deletionWindowInDays"] == 30
    assert cluster["kmsKeyId"] == key.state["arn"]  # the key that encrypts the snapshot is the one kept
    # Availability is not what decommissioning changes: the reader stays until the destroy.
    assert len(rendered.of_type(INSTANCE)) == 2
    assert rendered.outputs["protected"] is True and rendered.outputs["decommissioning"] is True
    doc = decommissioning_plan.document()
    assert doc["protected"] is True and doc["decommissioning"] is True
    assert all(layer["decommissioning"] is True for layer in doc["layers"])
    summary = decommissioning_plan.summary()
    assert "Mode: decommissioning (protect=true, decommission=true)" in summary and "Mode: protected" not in summary


def test_final_snapshot_name_is_valid_for_rds_and_new_for_every_cluster(protected_plan):
    rendered = layer_of(protected_plan, "data")
    name = final_snapshot_name(rendered)
    assert SNAPSHOT_IDENTIFIER.fullmatch(name) and len(name) <= 255, name
    random_id = rendered.one(RANDOM_ID)
    assert random_id.inputs["byteLength"] == 4 and re.fullmatch(r"[0-9a-f]{8}", random_id.state["hex"])
    # The random part lives in the stack's state (stable across updates) and is drawn again
    # whenever an input that makes RDS replace the cluster changes: every cluster gets its own name.
    cluster = rendered.one(CLUSTER).inputs
    assert random_id.inputs["keepers"] == {
        "clusterIdentifier": cluster["clusterIdentifier"],
        "kmsKeyId": cluster["kmsKeyId"],
        "databaseName": cluster["databaseName"],
        "masterUsername": cluster["masterUsername"],
    }
    assert random_id.parent == rendered.one("mlapi:data:Database").urn


def test_decommission_without_protect_is_refused_before_any_resource(monkeypatch):
    from shared.plan import engine

    registered: list[str] = []
    register = engine.RecordingMonitor.RegisterResource

    def recording(self, request):
        registered.append(request.type)
        return register(self, request)

    monkeypatch.setattr(engine.RecordingMonitor, "RegisterResource", recording)
    with pytest.raises(ConfigError) as caught:
        plan_layers("data", env=SUFFIX, region=REGION, config={"network": {"decommission": True}, "data": {"decommission": True}})
    message = str(caught.value)
    assert caught.value.setting == "mlapi-network:decommission", message
    assert message.startswith(
        "Invalid setting mlapi-network:decommission = 'true': true only in a protected environment (protect: true)"
    )
    assert "leave it false" in message
    assert set(registered) == {"pulumi:pulumi:Stack"}  # the program stopped before its first resource


def test_protected_backup_retention_is_a_floor_not_a_cap():
    plan = plan_layers("data", config={"network": {"protect": True}, "data": {"protect": True, "backupRetentionDays": 21}})
    assert layer_of(plan, "data").one(CLUSTER).inputs["backupRetentionPeriod"] == 21


def test_summary_flags_layers_that_disagree_on_protect():
    plan = plan_layers("data", config={"data": {"protect": True}})
    assert plan.document()["protected"] is False
    assert "Mode: MIXED" in plan.summary() and "data=true" in plan.summary()


# --- application secrets -------------------------------------------------------------------------


def test_application_secret_arns_are_exported_by_arn():
    secrets = {"model-api-key": secret_arn("ml/model-api-key"), "FEATURE_TOKEN": secret_arn("feature-token")}
    plan = plan_layers("data", env=SUFFIX, region=REGION, config={"data": {"applicationSecretArns": secrets}})
    rendered = layer_of(plan, "data")
    assert rendered.outputs["applicationSecretArns"] == secrets
    # Handed over by ARN: nothing is created for them, and no value is read.
    assert not [r for r in rendered.registrations if r.type.startswith("aws:secretsmanager/")]


def test_a_secret_in_another_account_is_refused_once_the_account_is_known():
    # The tasks decrypt only with this account's keys: a secret elsewhere would fail every task start.
    secrets = {"model-api-key": secret_arn("ml/model-api-key", account=OTHER_ACCOUNT)}
    with pytest.raises(ConfigError) as failure:
        plan_layers("data", env=SUFFIX, region=REGION, config={"data": {"applicationSecretArns": secrets}})
    assert failure.value.setting == "mlapi-data:applicationSecretArns.model-api-key"
    assert f"the environment's account '{MOCK_ACCOUNT_ID}' (this one is in '{OTHER_ACCOUNT}')" in str(failure.value)


# --- names ---------------------------------------------------------------------------------------


def test_named_resources_carry_the_suffix_and_fit_at_the_longest_suffix():
    suffix = "abcdefghijklmnopqrst"  # MAX_SUFFIX_LENGTH characters
    plan = plan_layers(
        "data", env=suffix, config={"network": {"protect": True}, "data": {"protect": True, "readerInstance": True}}
    )
    rendered = layer_of(plan, "data")
    limits = {"clusterIdentifier": 63, "identifier": 63, "finalSnapshotIdentifier": 255, "name": 255}
    checked = 0
    for reg in rendered.registrations:
        if not reg.custom or reg.type.startswith("pulumi:"):
            continue
        for field, limit in limits.items():
            value = reg.inputs.get(field)
            if not isinstance(value, str) or (reg.type == INSTANCE and field == "clusterIdentifier"):
                continue  # absent, or the instance's reference to the cluster (checked on the cluster)
            assert suffix in value, (reg.type, field, value)
            assert len(value) <= limit, (reg.type, field, value)
            checked += 1
    assert checked >= 8


# --- bad input -----------------------------------------------------------------------------------


def load(config: dict, region: str = REGION):
    from mlapi_data.settings import DataSettings

    raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    reader = ConfigReader("mlapi-data", raw.get)
    env = EnvironmentSettings.load(
        "data", reader, project="mlapi-data", stack="unit", aws_lookup={"region": region}.get, environ={}
    )
    return DataSettings.load(reader, env=env)


def test_settings_defaults():
    settings = load({})
    assert (settings.min_capacity, settings.max_capacity) == (0.5, 2.0)
    assert settings.engine_version == "16" and settings.parameter_group_family == "aurora-postgresql16"
    assert settings.backup_retention_days == 7 and settings.env.key_deletion_window_days == 7
    assert settings.application_secret_arns == {}


@pytest.mark.parametrize(
    "config, setting, shown, allowed",
    [
        ({"minCapacity": "4", "maxCapacity": "2"}, "minCapacity", "'4'", "at most maxCapacity (2 ACUs)"),
        ({"minCapacity": "0", "engineVersion": "16.2"}, "minCapacity", "'0'", "0 (auto-pause) only with"),
        ({"minCapacity": "0", "engineVersion": "13.14"}, "minCapacity", "'0'", "13.15"),
        ({"minCapacity": "0", "engineVersion": "15.6"}, "minCapacity", "'0'", "engineVersion is '15.6'"),
        ({"minCapacity": "0.25"}, "minCapacity", "'0.25'", "from 0 to 256 in steps of 0.5"),
        ({"minCapacity": "-1"}, "minCapacity", "'-1'", "from 0 to 256"),
        ({"maxCapacity": "300"}, "maxCapacity", "'300'", "from 1 to 256 in steps of 0.5"),
        ({"maxCapacity": "0.5"}, "maxCapacity", "'0.5'", "from 1 to 256"),
        ({"maxCapacity": "lots"}, "maxCapacity", "'lots'", "a number"),
        ({"engineVersion": "16.x"}, "engineVersion", "'16.x'", "major.minor such as 16.6"),
        ({"engineVersion": "v16"}, "engineVersion", "'v16'", "major.minor such as 16.6"),
        ({"engineVersion": "16.6.1"}, "engineVersion", "'16.6.1'", "major.minor such as 16.6"),
        ({"engineVersion": "16.06"}, "engineVersion", "'16.06'", "major.minor such as 16.6"),
        ({"maxCapacity": "0"}, "maxCapacity", "'0'", "from 1 to 256"),
        ({"engineVersion": "12.9"}, "engineVersion", "'12.9'", "Serverless v2 needs"),
        ({"engineVersion": "15.1"}, "engineVersion", "'15.1'", "15.2"),
        ({"databaseName": "postgres"}, "databaseName", "'postgres'", "reserves"),
        ({"databaseName": "1db"}, "databaseName", "'1db'", "a letter, then letters"),
        ({"masterUsername": "admin"}, "masterUsername", "'admin'", "reserves"),
        ({"databaseName": "rds_app"}, "databaseName", "'rds_app'", "rds*, pg_*"),
        ({"masterUsername": "pg_admin"}, "masterUsername", "'pg_admin'", "rds*, pg_*"),
        ({"backupRetentionDays": "0"}, "backupRetentionDays", "'0'", "from 1 to 35"),
        ({"backupWindow": "3am"}, "backupWindow", "'3am'", "hh:mm-hh:mm"),
        ({"backupWindow": "03:00-03:15"}, "backupWindow", "'03:00-03:15'", "at least 30 minutes"),
        ({"backupWindow": "04:00-05:00"}, "backupWindow", "'04:00-05:00'", "does not overlap the weekly maintenanceWindow"),
        ({"maintenanceWindow": "sunday"}, "maintenanceWindow", "'sunday'", "ddd:hh:mm-ddd:hh:mm"),
        ({"logRetentionDays": "31"}, "logRetentionDays", "'31'", "retention periods"),
        (
            {"applicationSecretArns": {"api-key": "arn:aws:ssm:eu-west-1:444455556666:parameter/api-key"}},
            "applicationSecretArns.api-key",
            "arn:aws:ssm",
            "the ARN of an existing Secrets Manager secret",
        ),
        (
            {"applicationSecretArns": {"api-key": "arn:aws:secretsmanager:eu-west-1:444455556666:secret:api-key"}},
            "applicationSecretArns.api-key",
            "secret:api-key",
            "<name>-<6 characters>",
        ),
        (
            {"applicationSecretArns": {"api-key": secret_arn("api-key", region="us-west-2")}},
            "applicationSecretArns.api-key",
            "us-west-2",
            f"a secret in the environment's region '{REGION}' (this one is in 'us-west-2')",
        ),
        ({"applicationSecretArns": {"api key!": secret_arn("x")}}, "applicationSecretArns", "'api key!'", "secret names are"),
        (
            {"applicationSecretArns": {"api-key": secret_arn("a"), "API_KEY": secret_arn("b")}},
            "applicationSecretArns",
            "api-key",
            "becomes API_KEY",
        ),
        ({"applicationSecretArns": {"db-password": secret_arn("x")}}, "applicationSecretArns", "db-password", "master secret"),
        (
            {"applicationSecretArns": "not json"},
            "applicationSecretArns",
            "'not json'",
            "a map of name -> Secrets Manager secret ARN",
        ),
        ({"applicationSecretArns": ["arn"]}, "applicationSecretArns", "arn", "a map of name"),
    ],
)
def test_bad_input_is_refused_with_setting_value_and_what_is_allowed(config, setting, shown, allowed):
    with pytest.raises(ConfigError) as caught:
        load(config)
    message = str(caught.value)
    assert caught.value.setting == f"mlapi-data:{setting}", message
    assert message.startswith(f"Invalid setting mlapi-data:{setting} = "), message
    assert shown in message and allowed in message, message


def test_bad_input_stops_the_plan_before_any_resource():
    with pytest.raises(ConfigError, match=r"mlapi-data:minCapacity = '8'.*at most maxCapacity \(4 ACUs\)"):
        plan_layers("data", config={"data": {"minCapacity": 8, "maxCapacity": 4}})
    with pytest.raises(ConfigError, match=r"mlapi-data:applicationSecretArns.token .*us-east-2"):
        plan_layers(
            "data", region="us-east-1", config={"data": {"applicationSecretArns": {"token": secret_arn("t", region="us-east-2")}}}
        )


def test_aurora_instances_take_automatic_minor_upgrades(data):
    # Minor versions carry security fixes; they are applied in the cluster's maintenance window.
    instances = data.of_type(INSTANCE)
    assert instances and all(i.inputs["autoMinorVersionUpgrade"] is True for i in instances)


@pytest.mark.parametrize(
    "config, blamed, shown",
    [
        # Only the backup window was set: it is the one to move, and the maintenance window is the default.
        (
            {"backupWindow": "04:00-05:00"},
            "backupWindow",
            "backupWindow '04:00-05:00' and maintenanceWindow 'sun:04:30-sun:05:30' (the default) overlap on sun",
        ),
        # Only the maintenance window was set: it is blamed, and the backup window is the default.
        (
            {"maintenanceWindow": "tue:03:30-tue:04:30"},
            "maintenanceWindow",
            "backupWindow '03:00-04:00' (the default) and maintenanceWindow 'tue:03:30-tue:04:30' overlap on tue",
        ),
        # Both set: the weekly window is blamed, both are named as the user wrote them.
        (
            {"backupWindow": "22:00-23:00", "maintenanceWindow": "fri:22:30-fri:23:30"},
            "maintenanceWindow",
            "backupWindow '22:00-23:00' and maintenanceWindow 'fri:22:30-fri:23:30' overlap on fri",
        ),
    ],
)
def test_overlapping_windows_name_both_keys_and_blame_the_one_the_user_set(config, blamed, shown):
    with pytest.raises(ConfigError) as caught:
        load(config)
    assert caught.value.setting == f"mlapi-data:{blamed}"
    assert shown in str(caught.value)
