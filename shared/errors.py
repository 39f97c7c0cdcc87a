"""Errors a user can cause, reported as one paragraph and never as a traceback."""

from __future__ import annotations

from typing import Any

import pulumi


def quote(value: Any) -> str:
    """A value as every message shows it: text in single quotes, booleans as YAML writes them,
    anything else (numbers, lists, maps) as Python prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


class ConfigError(pulumi.RunError):
    """A setting has a value the platform cannot use.

    Subclasses :class:`pulumi.RunError`, which the Pulumi engine prints without a Python
    traceback; the offline plan and the invoke tasks print it the same way. ``origin`` is the
    file the value came from, when it is known (see :meth:`shared.stack_config.StackConfig.locate`).
    """

    def __init__(self, setting: str, value: Any, allowed: str, *, hint: str = "", origin: str = "") -> None:
        self.setting = setting
        self.value = value
        self.allowed = allowed
        self.hint = hint
        self.origin = origin
        shown = "(not set)" if value is None or value == "" else quote(value)
        where = f" in {origin}" if origin else ""
        message = f"Invalid setting {setting} = {shown}{where}: {allowed}."
        if hint:
            message += f" {hint}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (the parallel offline plan sends errors between processes) with all its fields.
        # ``origin`` too: without it a bad value in a stack file or environments/<env>.yaml would be
        # reported by `invoke plan` (parallel) without the file the serial renderer names.
        return (_config_error, (self.setting, self.value, self.allowed, self.hint, self.origin))


def _config_error(setting: str, value: Any, allowed: str, hint: str, origin: str = "") -> ConfigError:
    return ConfigError(setting, value, allowed, hint=hint, origin=origin)


class PlatformError(pulumi.RunError):
    """Any other user-facing failure (a missing upstream layer, a missing tool)."""
