"""The data layer's settings, read once and validated before any resource is declared."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import contracts, manifest
from shared.config import ConfigReader
from shared.errors import ConfigError, quote
from shared.settings import EnvironmentSettings

LAYER = "data"
ENGINE = "aurora-postgresql"

# The lowest minor of each major that runs Serverless v2 (db.serverless); later majors all do.
SERVERLESS_V2_MINIMUM_MINOR = {13: 6, 14: 3, 15: 2, 16: 1, 17: 4}
# AWS's Serverless v2 capacity range and granularity (ACUs). A minimum of 0 turns on auto-pause.
ACU_MAXIMUM = 256.0
ACU_STEP = 0.5
MAX_CAPACITY_MINIMUM = 1.0
# The lowest minor of each major that can scale to 0 ACUs (auto-pause); AWS refuses a minimum of 0
# on anything older. These came in one release (June 2024); every 17.x that runs Serverless v2 does.
AUTO_PAUSE_MINIMUM_MINOR = {13: 15, 14: 12, 15: 7, 16: 3, 17: 4}
# Idle seconds before an instance at 0 ACUs pauses: AWS's minimum and default (it allows 300-86400).
# Resuming takes about 15 seconds, so a paused database suits only an environment that can wait.
SECONDS_UNTIL_AUTO_PAUSE = 300

# A protected (long-lived) environment keeps at least this many days of automated backups.
PROTECTED_MIN_BACKUP_DAYS = 14
# KMS waits this many days before deleting a key scheduled for deletion (AWS allows 7 to 30).

# A major ("16") or major.minor ("16.6"); AWS writes minors without leading zeros ("16.06" is no version).
_ENGINE_VERSION = re.compile(r"(?P<major>[1-9][0-9]?)(?:\.(?P<minor>0|[1-9][0-9]?))?")
_IDENTIFIER = r"[A-Za-z][A-Za-z0-9_]{0,62}"
# Names PostgreSQL or RDS reserve for themselves (RDS refuses them as the master user or database).
_RESERVED_USERS = {"admin", "rdsadmin", "rdsrepladmin", "rds_superuser", "rds_replication", "rds_password", "public"}
_RESERVED_DATABASES = {"postgres", "template0", "template1", "rdsadmin"}
_BACKUP_WINDOW = re.compile(r"(?P<h1>[01][0-9]|2[0-3]):(?P<m1>[0-5][0-9])-(?P<h2>[01][0-9]|2[0-3]):(?P<m2>[0-5][0-9])")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAINTENANCE_WINDOW = re.compile(
    r"(?P<d1>mon|tue|wed|thu|fri|sat|sun):(?P<h1>[01][0-9]|2[0-3]):(?P<m1>[0-5][0-9])-"
    r"(?P<d2>mon|tue|wed|thu|fri|sat|sun):(?P<h2>[01][0-9]|2[0-3]):(?P<m2>[0-5][0-9])"
)
# arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 random characters AWS appends>
_SECRET_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):secretsmanager:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+):"
    r"(?P<account>[0-9]{12}):secret:(?P<name>[A-Za-z0-9/_+=.@!-]{1,512})-[A-Za-z0-9]{6}"
)
_SECRET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# The compute layer injects the master secret as these variables; an application secret must not collide.
_MASTER_SECRET_VARIABLES = {"DB_USERNAME", "DB_PASSWORD"}

_WEEK = 7 * 24 * 60


@dataclass(frozen=True)
class DataSettings:
    env: EnvironmentSettings
    engine_version: str
    min_capacity: float
    max_capacity: float
    reader_instance: bool
    database_name: str
    master_username: str
    configured_backup_retention_days: int
    backup_window: str
    maintenance_window: str
    log_retention_days: int
    application_secret_arns: Mapping[str, str] = field(default_factory=dict)

    @property
    def engine_major(self) -> int:
        return int(self.engine_version.split(".")[0])

    @property
    def auto_pause(self) -> bool:
        """Whether the instances scale to 0 ACUs and pause when idle (minCapacity 0)."""
        return self.min_capacity == 0

    @property
    def parameter_group_family(self) -> str:
        return f"{ENGINE}{self.engine_major}"

    @property
    def backup_retention_days(self) -> int:
        """The configured retention, raised to a floor in a protected environment."""
        # keeps_data: the backups are what a decommissioned environment leaves behind.
        if self.env.keeps_data:
            return max(self.configured_backup_retention_days, PROTECTED_MIN_BACKUP_DAYS)
        return self.configured_backup_retention_days

    @property
    def runs_reader(self) -> bool:
        """A reader in a second AZ when asked for, and always in a protected environment: one
        instance means one AZ failure takes the database down (FSBP RDS.15)."""
        return self.reader_instance or self.env.protect

    @classmethod
    def load(cls, reader: ConfigReader | None = None, env: EnvironmentSettings | None = None) -> DataSettings:
        env = env or EnvironmentSettings.load(LAYER, reader)
        reader = reader or ConfigReader(env.project)
        engine_version = _engine_version(reader)
        min_capacity, max_capacity = _capacity(reader, engine_version)
        backup_window = _backup_window(reader)
        return cls(
            env=env,
            engine_version=engine_version,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            reader_instance=reader.boolean("readerInstance", False),
            database_name=_identifier(reader, "databaseName", "mlapi", _RESERVED_DATABASES),
            master_username=_identifier(reader, "masterUsername", "mlapi_admin", _RESERVED_USERS),
            configured_backup_retention_days=reader.integer("backupRetentionDays", 7, minimum=1, maximum=35),
            backup_window=backup_window,
            maintenance_window=_maintenance_window(reader, backup_window),
            log_retention_days=reader.log_retention("logRetentionDays", 30),
            application_secret_arns=_application_secrets(reader, env.region),
        )


def _engine_version(reader: ConfigReader) -> str:
    """A major version track ("16") or an exact version ("16.6") that runs Serverless v2."""
    key = "engineVersion"
    value = reader.string(key, "16")
    assert value is not None
    minimums = ", ".join(f"{major}.{minor}" for major, minor in SERVERLESS_V2_MINIMUM_MINOR.items())
    allowed = (
        "an Aurora PostgreSQL major version such as 16 (recommended: AWS's current default minor, kept patched "
        f"by automatic minor upgrades) or an exact major.minor such as 16.6; Serverless v2 needs {minimums} or later"
    )
    match = _ENGINE_VERSION.fullmatch(value)
    if not match:
        raise reader.fail(key, value, allowed)
    major = int(match["major"])
    lowest = min(SERVERLESS_V2_MINIMUM_MINOR)
    if major < lowest:
        raise reader.fail(key, value, allowed)
    if match["minor"] is not None and int(match["minor"]) < SERVERLESS_V2_MINIMUM_MINOR.get(major, 0):
        raise reader.fail(key, value, allowed)
    return value


def _capacity(reader: ConfigReader, engine_version: str) -> tuple[float, float]:
    """AWS's Serverless v2 range: minCapacity 0-256, maxCapacity 1-256, both in 0.5 steps, min <= max.

    A minimum of 0 turns on auto-pause, which AWS accepts only from certain minor versions.
    """
    minimum = reader.number("minCapacity", 0.5, minimum=0.0, maximum=ACU_MAXIMUM, step=ACU_STEP)
    if minimum == 0 and not supports_auto_pause(engine_version):
        oldest = ", ".join(f"{major}.{minor}" for major, minor in AUTO_PAUSE_MINIMUM_MINOR.items())
        raise reader.fail(
            "minCapacity",
            "0",
            f"0 (auto-pause) only with Aurora PostgreSQL {oldest} or later, and engineVersion is {quote(engine_version)}; "
            f"otherwise a number from {ACU_STEP:g} to {ACU_MAXIMUM:g} in steps of {ACU_STEP:g}",
            hint="Raise engineVersion (or use its major version alone, such as 16) or set minCapacity to 0.5.",
        )
    maximum = reader.number("maxCapacity", 2.0, minimum=MAX_CAPACITY_MINIMUM, maximum=ACU_MAXIMUM, step=ACU_STEP)
    if minimum > maximum:
        raise reader.fail("minCapacity", f"{minimum:g}", f"at most maxCapacity ({maximum:g} ACUs)")
    return minimum, maximum


def supports_auto_pause(engine_version: str) -> bool:
    """Whether AWS lets a cluster of ``engine_version`` scale to 0 ACUs.

    A major version alone means AWS's current default minor of that major, which is newer than
    the release that brought auto-pause; only an older pinned minor is refused.
    """
    major, _, minor = engine_version.partition(".")
    if not minor:
        return True
    return int(minor) >= AUTO_PAUSE_MINIMUM_MINOR.get(int(major), 0)


def _identifier(reader: ConfigReader, key: str, default: str, reserved: set[str]) -> str:
    rule = "a letter, then letters, digits or underscores, at most 63 characters"
    value = reader.string(key, default, pattern=_IDENTIFIER, allowed=rule)
    assert value is not None
    if value.lower() in reserved or value.lower().startswith(("rds", "pg_")):
        raise reader.fail(
            key, value, f"{rule}; not a name PostgreSQL or RDS reserves ({', '.join(sorted(reserved))}, rds*, pg_*)"
        )
    return value


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


def _backup_window(reader: ConfigReader) -> str:
    key = "backupWindow"
    rule = "a daily UTC window hh:mm-hh:mm of at least 30 minutes, for example 03:00-04:00"
    value = reader.string(key, "03:00-04:00")
    assert value is not None
    match = _BACKUP_WINDOW.fullmatch(value)
    if not match:
        raise reader.fail(key, value, rule)
    length = (_minutes(match["h2"], match["m2"]) - _minutes(match["h1"], match["m1"])) % (24 * 60)
    if length < 30:
        raise reader.fail(key, value, rule)
    return value


def _maintenance_window(reader: ConfigReader, backup_window: str) -> str:
    key = "maintenanceWindow"
    rule = "a weekly UTC window ddd:hh:mm-ddd:hh:mm of at least 30 minutes, for example sun:04:30-sun:05:30"
    value = reader.string(key, "sun:04:30-sun:05:30")
    assert value is not None
    match = _MAINTENANCE_WINDOW.fullmatch(value.lower())
    if not match:
        raise reader.fail(key, value, rule)
    start = _DAYS.index(match["d1"]) * 1440 + _minutes(match["h1"], match["m1"])
    end = _DAYS.index(match["d2"]) * 1440 + _minutes(match["h2"], match["m2"])
    length = (end - start) % _WEEK
    if length < 30:
        raise reader.fail(key, value, rule)
    # RDS refuses a maintenance window that overlaps the daily backup window.
    backup = _BACKUP_WINDOW.fullmatch(backup_window)
    assert backup is not None
    b_start = _minutes(backup["h1"], backup["m1"])
    b_length = (_minutes(backup["h2"], backup["m2"]) - b_start) % 1440
    maintenance = {(start + i) % _WEEK for i in range(length)}
    for day in range(7):
        if any((day * 1440 + b_start + i) % _WEEK in maintenance for i in range(b_length)):
            raise _overlap(reader, backup_window, value, _DAYS[day])
    return value.lower()


def _overlap(reader: ConfigReader, backup_window: str, maintenance_window: str, day: str) -> ConfigError:
    """Overlapping windows, blamed on the one the user set (both, if both are set), naming both keys."""
    backup_set = reader.raw("backupWindow") is not None
    maintenance_set = reader.raw("maintenanceWindow") is not None
    both = (
        f"backupWindow {quote(backup_window)}{'' if backup_set else ' (the default)'} and maintenanceWindow "
        f"{quote(maintenance_window)}{'' if maintenance_set else ' (the default)'} overlap on {day}"
    )
    if backup_set and not maintenance_set:
        return reader.fail(
            "backupWindow",
            backup_window,
            f"a daily window that does not overlap the weekly maintenanceWindow (RDS refuses it): {both}",
            hint="Move backupWindow, or set maintenanceWindow to another time.",
        )
    return reader.fail(
        "maintenanceWindow",
        maintenance_window,
        f"a weekly window that does not overlap the daily backupWindow (RDS refuses it): {both}",
        hint="Move one of the two windows." if backup_set else "Move maintenanceWindow, or set backupWindow to another time.",
    )


def _application_secrets(reader: ConfigReader, region: str) -> dict[str, str]:
    key = "applicationSecretArns"
    raw: Any = reader.raw(key, {})
    if raw is None:
        return {}
    shape = 'a map of name -> Secrets Manager secret ARN, for example {"model-api-key": "arn:aws:secretsmanager:..."}'
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise reader.fail(key, raw, shape) from None
    if not isinstance(raw, dict):
        raise reader.fail(key, raw, shape)
    secrets: dict[str, str] = {}
    variables: dict[str, str] = {}
    for name, arn in sorted(raw.items()):
        setting = f"{key}.{name}"
        if not isinstance(name, str) or not _SECRET_NAME.fullmatch(name):
            raise reader.fail(key, name, "secret names are a letter, then letters, digits, '-' or '_', at most 64 characters")
        variable = contracts.secret_variable(name)
        if variable in _MASTER_SECRET_VARIABLES or variable in variables:
            taken = "the master secret's" if variable in _MASTER_SECRET_VARIABLES else f"{variables[variable]!r}'s"
            raise reader.fail(
                key, name, f"names that give distinct environment variables; {name!r} becomes {variable}, which is {taken}"
            )
        match = _SECRET_ARN.fullmatch(str(arn).strip()) if isinstance(arn, str) else None
        if match is None:
            raise reader.fail(
                setting,
                arn,
                "the ARN of an existing Secrets Manager secret: arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>",
            )
        if match["region"] != region:
            raise reader.fail(
                setting,
                arn,
                f"a secret in the environment's region {quote(region)} (this one is in {quote(match['region'])})",
                hint=(
                    "An environment depends only on its own region (the tasks may decrypt secrets only through this "
                    "region's Secrets Manager); replicate the secret into this region and use the replica's ARN."
                ),
            )
        variables[variable] = name
        secrets[name] = match.group(0)
    return secrets


def secrets_in_account(secret_arns: Mapping[str, str], account_id: str) -> dict[str, str]:
    """``secret_arns`` unchanged when every secret lives in ``account_id``, the account the environment
    deploys to; the tasks can decrypt only with this account's keys (the data key, or
    aws/secretsmanager, which never serves another account), so a secret elsewhere would fail every
    task start. Checked once the account is known, before the exports resolve."""
    for name, arn in sorted(secret_arns.items()):
        match = _SECRET_ARN.fullmatch(arn)
        if match is not None and match["account"] != account_id:
            raise ConfigError(
                f"{manifest.by_name(LAYER).project}:applicationSecretArns.{name}",
                arn,
                f"a secret in the environment's account {quote(account_id)} (this one is in {quote(match['account'])})",
                hint="Copy the secret into this account (and region) and use that secret's ARN.",
            )
    return dict(secret_arns)
