"""Resource names: ``{app}-{resource}-{suffix}``, the only place a name is spelled.

The environment suffix is validated once (:func:`validate_suffix`) so that every name built from
it fits the tightest AWS limit it is used with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import APP
from .errors import ConfigError

# The tightest limit a suffixed name meets is 32 characters (ALB and target group names).
# "mlapi-" + a resource part of up to 5 characters ("alb", "tg") + "-" + suffix <= 32.
TIGHTEST_NAME_LIMIT = 32
LONGEST_SHORT_PART = 5
MAX_SUFFIX_LENGTH = TIGHTEST_NAME_LIMIT - len(APP) - 2 - LONGEST_SHORT_PART  # 20

SUFFIX_PATTERN = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*")
SUFFIX_RULE = (
    f"lowercase letters, digits and single hyphens, starting with a letter, not ending with a hyphen, "
    f"1 to {MAX_SUFFIX_LENGTH} characters (names built from it must fit AWS's "
    f"{TIGHTEST_NAME_LIMIT}-character limit for load balancers and target groups)"
)


def validate_suffix(suffix: object, setting: str = "environmentSuffix") -> str:
    """Return the suffix if it is usable in every resource name, else raise ConfigError."""
    if not isinstance(suffix, str) or not suffix:
        raise ConfigError(setting, suffix, SUFFIX_RULE)
    if len(suffix) > MAX_SUFFIX_LENGTH or not SUFFIX_PATTERN.fullmatch(suffix):
        raise ConfigError(setting, suffix, SUFFIX_RULE)
    return suffix


# AWS name limits by kind of name, for the names this platform builds.
LIMITS = {
    "default": 64,
    "alb": 32,
    "target-group": 32,
    "rds": 63,
    "iam-role": 64,
    "s3": 63,
    "waf": 128,
    "ecr": 256,
    "dynamodb": 255,
    "ecs": 255,
    "kms-alias": 256,
}


@dataclass(frozen=True)
class Namer:
    """Builds suffixed names for one environment. ``Namer("demo").name("vpc") == "mlapi-vpc-demo"``."""

    suffix: str
    app: str = APP

    def __post_init__(self) -> None:
        validate_suffix(self.suffix)

    def name(self, resource: str, *, kind: str = "default") -> str:
        """The physical name of ``resource`` (lowercase, hyphenated) within the limit of ``kind``."""
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", resource):
            raise ValueError(f"resource part {resource!r} must be lowercase words joined by hyphens")
        built = f"{self.app}-{resource}-{self.suffix}"
        limit = LIMITS[kind]
        if len(built) > limit:
            # A programming error, not a user one: the suffix limit was chosen so this cannot
            # happen for the parts the layers use (tests check every layer at the longest suffix).
            raise ValueError(f"name {built!r} is longer than the {limit}-character limit for {kind} names")
        return built

    def log_group(self, *parts: str) -> str:
        """A CloudWatch log group path: ``/mlapi/<suffix>/<parts...>``."""
        return "/".join(["", self.app, self.suffix, *parts])
