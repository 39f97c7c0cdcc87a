"""Naming: every named resource carries the environment suffix."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ...aws_types import (
    IAM_GROUP_POLICY,
    IAM_ROLE_POLICY,
    IAM_USER_POLICY,
    TASK_DEFINITION,
)
from ..model import (
    SECRET,
    UNKNOWN,
    Environment,
    Resource,
)
from ..registry import rule

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
