"""The normalized view both runners hand to the rules.

A :class:`Resource` is one registration: its type token, logical name, URN, its inputs as the
engine receives them (camelCase keys), the layer it belongs to, the region of its provider and,
when known, its outputs (ids and ARNs, which multi-resource rules match on). A :class:`View` is
everything a rule can see: the whole plan (offline runner) or one stack (policy pack).

Rules must read inputs through :func:`get` / ``Mapping`` / ``Sequence`` rather than assuming
``dict``/``list``: in the policy pack the inputs are pulumi_policy's unknown-checking proxies,
which raise ``UnknownValueError`` on a value that is not known yet (the SDK then reports that
the policy could not run during preview instead of guessing).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SECRET = "[secret]"
UNKNOWN = "[unknown]"

try:  # the policy pack's proxies raise this for a value not known yet (preview)
    from pulumi_policy.proxy import UnknownValueError
except ImportError:  # pragma: no cover - pulumi_policy is a dependency of the project

    class UnknownValueError(Exception):  # type: ignore[no-redef]
        pass


def known(mapping: Any, key: str) -> Any:
    """``mapping[key]``, or None when it is absent or not known yet (during a preview)."""
    try:
        return mapping.get(key, None)
    except UnknownValueError:
        return None


# -- value helpers --------------------------------------------------------------------------------
def is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def as_list(value: Any) -> list[Any]:
    """``value`` as a list: None -> [], a scalar or mapping -> [value], a sequence -> its items."""
    if value is None:
        return []
    if is_sequence(value):
        return [value[i] for i in range(len(value))]
    return [value]


def get(value: Any, path: str, default: Any = None) -> Any:
    """``get(inputs, "viewerCertificate.minimumProtocolVersion")``; list indexes as numbers."""
    current = value
    for part in path.split("."):
        if is_mapping(current):
            if part not in current:
                return default
            current = current[part]
        elif is_sequence(current) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return default if current is None else current


def first(value: Any) -> Any:
    """The first item of a list input (Pulumi represents single nested blocks as 1-item lists in
    some providers and as objects in others); the value itself otherwise."""
    items = as_list(value)
    return items[0] if items else None


def to_plain(value: Any) -> Any:
    """A deep copy with Mapping/Sequence turned into dict/list (reads every nested value)."""
    if is_mapping(value):
        return {k: to_plain(value[k]) for k in value}
    if is_sequence(value):
        return [to_plain(v) for v in as_list(value)]
    return value


def parse_json(value: Any) -> Any:
    """A JSON document input (a policy, container definitions): parsed if it is a string."""
    if isinstance(value, str):
        if value in (SECRET, UNKNOWN, ""):
            return None
        try:
            return json.loads(value)
        except ValueError:
            return None
    return to_plain(value)


def truthy(value: Any) -> bool:
    """Config-ish booleans: True, "true" (provider inputs arrive as strings)."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- resources and views --------------------------------------------------------------------------
@dataclass
class Resource:
    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    layer: str
    region: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    provider: str | None = None
    parent: str | None = None
    # Property name -> URNs it depends on (policy pack stack validation only): lets rules match
    # references even when an id is not among a resource's outputs.
    dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def get(self, path: str, default: Any = None) -> Any:
        return get(self.inputs, path, default)

    @property
    def is_aws(self) -> bool:
        return self.type.startswith("aws:")

    @property
    def arn(self) -> str:
        return text(known(self.outputs, "arn")) or text(known(self.inputs, "arn"))

    @property
    def id(self) -> str:
        return text(known(self.outputs, "id"))

    def refs(self) -> set[str]:
        """Every string another resource may use to point at this one (ARN, id, physical name).
        Identifiers not known yet (a preview in the policy pack) are left out: references to this
        resource are then recognised by their property dependencies (see :func:`refers`)."""
        found = {self.arn, self.id}
        for key in ("name", "clusterIdentifier", "identifier", "bucket", "family"):
            for source in (self.outputs, self.inputs):
                found.add(text(known(source, key)))
        found.discard("")
        found.discard(SECRET)
        found.discard(UNKNOWN)
        return found

    def label(self) -> str:
        """How reports name the resource: logical name, plus the physical name when it differs."""
        physical = ""
        for key in ("name", "clusterIdentifier", "identifier", "family"):
            value = self.inputs.get(key) if key in self.inputs else None
            if isinstance(value, str) and value not in (SECRET, UNKNOWN):
                physical = value
                break
        return f"{self.name} ({physical})" if physical and physical != self.name else self.name


@dataclass
class View:
    """What a rule can see. ``whole`` is True only for the offline runner's whole-environment plan:
    a relation missing from it is missing from the environment. A policy pack sees one stack, so
    a missing cross-layer relation there is "not judged here", not a violation."""

    resources: list[Resource]
    whole: bool
    region: str | None = None
    account: str | None = None
    layer_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The same environment rendered a second time with another region and account (offline only):
    # what stays the same in both renderings was written into the code, not derived.
    twin: View | None = None

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    @property
    def layers(self) -> list[str]:
        seen: list[str] = []
        for r in self.resources:
            if r.layer not in seen:
                seen.append(r.layer)
        return seen

    def by_urn(self, urn: str) -> Resource | None:
        for r in self.resources:
            if r.urn == urn:
                return r
        return None


def refers(source: Resource, key: str, target: Resource) -> bool:
    """Whether ``source``'s input ``key`` (a string or a list of them) points at ``target``."""
    if target.urn in (source.dependencies.get(key) or ()):
        return True
    try:
        value = source.inputs.get(key, None)
    except UnknownValueError:
        if source.dependencies.get(key):
            return False  # not known yet, and the engine says it comes from other resources than target
        raise
    targets = target.refs()
    return any(isinstance(item, str) and item in targets for item in as_list(value))


def referenced(view: View, source: Resource, key: str, *types: str) -> list[Resource]:
    """The resources of ``types`` that ``source.key`` points at."""
    return [r for r in view.of_type(*types) if refers(source, key, r)]


# -- environment ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Environment:
    """The environment the resources belong to. ``protect_source`` and ``decommission_source`` say
    where ``protect`` and ``decommission`` came from, so a waiver can explain itself."""

    suffix: str
    region: str | None
    protect: bool
    protect_source: str = "default"
    # A protected environment on its way out: deletion protection lifted, its data still kept.
    decommission: bool = False
    decommission_source: str = "default"

    @property
    def decommissioning(self) -> bool:
        """Decommissioning means something only for a protected environment."""
        return self.protect and self.decommission

    @property
    def blocks_deletion(self) -> bool:
        """Whether the environment's resources should refuse deletion (as EnvironmentSettings)."""
        return self.protect and not self.decommission


# -- findings ---------------------------------------------------------------------------------------
class Status(enum.Enum):
    VIOLATION = "violation"
    WAIVED = "waived"  # not required for this kind of environment (the reason says why)
    NOT_JUDGED = "not judged"  # the relation lives outside what this runner can see


@dataclass(frozen=True)
class Finding:
    """What a rule function reports: a problem with ``resource`` (or a reason it cannot be judged
    here, ``not_judged``, or is accepted here, ``waived``)."""

    resource: Resource | None
    message: str
    waived: str | None = None
    not_judged: str | None = None
