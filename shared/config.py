"""Typed, validated reading of Pulumi config: each getter either returns a clean value or raises
:class:`ConfigError` naming the setting, the value and what is allowed.

A layer reads its whole config once, through one :class:`ConfigReader`, into a frozen settings
object before it declares any resource.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pulumi

from .errors import ConfigError

Lookup = Callable[[str], str | None]

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def is_true(value: object) -> bool:
    """Whether a config value reads as true (``True``, "true", "yes", "1", "on"; any case)."""
    return value is True or str(value).strip().lower() in _TRUE


def pulumi_lookup(namespace: str | None = None) -> Lookup:
    """Read raw values from the running program's Pulumi config (project namespace by default)."""
    config = pulumi.Config(namespace)
    return config.get


class ConfigReader:
    """Typed getters over one config namespace that record every key they read and its default.

    ``lookup`` returns the raw string (as the Pulumi CLI hands config to a program) or None.
    Tests pass a dict's ``get``; programs use :func:`pulumi_lookup`.
    """

    def __init__(self, namespace: str, lookup: Lookup | None = None) -> None:
        self.namespace = namespace
        self._lookup = lookup if lookup is not None else pulumi_lookup(namespace)
        self.read: dict[str, Any] = {}

    # -- helpers -----------------------------------------------------------------------------
    def setting(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def raw(self, key: str, default: Any = None) -> Any:
        self.read.setdefault(key, default)
        value = self._lookup(key)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        return value

    def fail(self, key: str, value: Any, allowed: str, hint: str = "") -> ConfigError:
        return ConfigError(self.setting(key), value, allowed, hint=hint)

    # -- getters -----------------------------------------------------------------------------
    def string(
        self,
        key: str,
        default: str | None,
        *,
        pattern: str | None = None,
        allowed: str = "",
    ) -> str | None:
        value = self.raw(key, default)
        if value is None:
            return default
        value = str(value).strip()
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.fail(key, value, allowed or f"must match {pattern}")
        return value

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        value = self.raw(key, default)
        if value is None:
            return default
        value = str(value).strip()
        if value not in choices:
            raise self.fail(key, value, "allowed values are " + ", ".join(choices))
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.fail(key, value, "must be true or false")

    def integer(self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(key, default)
        if value is None:
            return default
        try:
            number = int(str(value).strip())
        except ValueError:
            raise self.fail(key, value, _range_text("a whole number", minimum, maximum)) from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise self.fail(key, value, _range_text("a whole number", minimum, maximum))
        return number

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        step: float | None = None,
    ) -> float:
        value = self.raw(key, default)
        if value is None:
            return default
        try:
            number = float(str(value).strip())
        except ValueError:
            raise self.fail(key, value, _range_text("a number", minimum, maximum)) from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise self.fail(key, value, _range_text("a number", minimum, maximum, step))
        if step is not None and abs(round(number / step) * step - number) > 1e-9:
            raise self.fail(key, value, _range_text("a number", minimum, maximum, step))
        return number

    def log_retention(self, key: str, default: int = 30) -> int:
        """A CloudWatch Logs retention period in days (only AWS's fixed values are accepted)."""
        value = self.raw(key, default)
        if value is None:
            return default
        text = str(value).strip()
        if not text.isdigit() or int(text) not in LOG_RETENTION_DAYS:
            raise self.fail(
                key, value, "one of CloudWatch Logs' retention periods: " + ", ".join(map(str, LOG_RETENTION_DAYS)) + " days"
            )
        return int(text)

    def cidr(self, key: str, default: str, *, min_prefix: int = 16, max_prefix: int = 28) -> ipaddress.IPv4Network:
        value = self.raw(key, default)
        text = default if value is None else str(value).strip()
        allowed = f"an IPv4 network in CIDR form (for example 10.0.0.0/16) with a prefix from /{min_prefix} to /{max_prefix}"
        try:
            network = ipaddress.IPv4Network(text, strict=True)
        except ValueError:
            raise self.fail(key, text, allowed) from None
        if not min_prefix <= network.prefixlen <= max_prefix:
            raise self.fail(key, text, allowed)
        return network

    def string_list(
        self, key: str, default: Iterable[str] = (), *, each: Callable[[str], bool] | None = None, allowed: str = ""
    ) -> tuple[str, ...]:
        value = self.raw(key, list(default))
        if value is None:
            return tuple(default)
        items: list[Any]
        if isinstance(value, (list, tuple)):
            items = list(value)
        else:
            text = str(value).strip()
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except json.JSONDecodeError:
                    raise self.fail(key, value, "a JSON list of strings or a comma-separated list") from None
            else:
                items = list(text.split(","))
        cleaned = tuple(str(item).strip() for item in items if str(item).strip())
        if each is not None:
            for item in cleaned:
                if not each(item):
                    raise self.fail(key, item, allowed or "an invalid list element")
        return cleaned


def _range_text(kind: str, minimum: Any, maximum: Any, step: Any = None) -> str:
    text = kind
    if minimum is not None and maximum is not None:
        text += f" from {minimum:g} to {maximum:g}" if isinstance(minimum, float) else f" from {minimum} to {maximum}"
    elif minimum is not None:
        text += f" of at least {minimum}"
    elif maximum is not None:
        text += f" of at most {maximum}"
    if step is not None:
        text += f" in steps of {step:g}"
    return text
