"""Errors a user can cause, reported as one paragraph and never as a traceback."""

from __future__ import annotations

from typing import Any

import pulumi


class ConfigError(pulumi.RunError):
    """A setting has a value the platform cannot use.

    Subclasses :class:`pulumi.RunError`, which the Pulumi engine prints without a Python
    traceback; the offline plan and the invoke tasks print it the same way.
    """

    def __init__(self, setting: str, value: Any, allowed: str, *, hint: str = "") -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed
        self.hint = hint
        shown = "(not set)" if value is None or value == "" else repr(value)
        message = f"Invalid setting {setting} = {shown}: {allowed}."
        if hint:
            message += f" {hint}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (the parallel offline plan sends errors between processes) with all its fields.
        return (_config_error, (self.setting, self.value, self.allowed, self.hint))


def _config_error(setting: str, value: Any, allowed: str, hint: str) -> ConfigError:
    return ConfigError(setting, value, allowed, hint=hint)


class PlatformError(pulumi.RunError):
    """Any other user-facing failure (a missing upstream layer, a missing tool)."""
