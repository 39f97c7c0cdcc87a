"""Run Pulumi programs under the SDK's mock runtime and record everything they register.

:func:`render_program` runs any callable (a whole ``__main__.py`` or one component, for tests);
:func:`render_layer` runs a layer's real program with its config and its upstream layers' exports.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import runpy
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from ..errors import ConfigError, PlatformError
from ..runtime import offline_plan
from . import lean
from .mocks import PlatformMocks
from .sdk_speedups import offline_speedups

# Programs rendered here load only the pulumi_aws files they use (see shared/plan/lean.py).
lean.install()

ORGANIZATION = "organization"

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"

_THREAD_LOOPS: list[asyncio.AbstractEventLoop] = []


@atexit.register
def _close_thread_loops() -> None:
    for loop in _THREAD_LOOPS:
        if not loop.is_running() and not loop.is_closed():
            loop.close()


def plain(value: Any) -> Any:
    """A deserialized protobuf value made JSON-plain: secrets -> "[secret]", resource references ->
    their id (or urn), whole floats -> ints, unknowns -> "[unknown]"."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return value.get("id") or value.get("urn")
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == _UNKNOWN:
        return "[unknown]"
    return value


def _quiet_reported_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The render loop's exception handler: a program that fails on a user's mistake (a
    PlatformError or ConfigError raised in an apply) leaves every output that depended on it failed
    with the same error, and asyncio printed "Future exception was never retrieved" with a traceback
    for each of them (about a thousand for a payments layer reading an old network stack) whenever
    they were garbage-collected, long after the render had reported the error. Those are dropped,
    and only once a render on this loop has failed on such an error (until then nothing is);
    anything else goes to asyncio's default handler."""
    if (
        _FAILED_ON_USER_ERROR
        and isinstance(context.get("exception"), ConfigError | PlatformError)
        and "never retrieved" in str(context.get("message"))
    ):
        return
    loop.default_exception_handler(context)


# Set once a render has raised a PlatformError/ConfigError (see _quiet_reported_errors).
_FAILED_ON_USER_ERROR = False


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    custom: bool
    inputs: dict[str, Any]
    id: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    # The ``retain_on_delete`` resource option: `pulumi destroy` drops it from state, not from AWS.
    retain_on_delete: bool = False


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that keeps every registration's inputs as the engine receives them."""

    def __init__(self, mocks: PlatformMocks) -> None:
        super().__init__(mocks)
        self.platform_mocks = mocks
        self.registrations: list[Registration] = []
        self.stack_urn: str | None = None
        self.stack_outputs: dict[str, Any] = {}
        self.raw_stack_outputs: dict[str, Any] = {}

    @staticmethod
    def _own_thread_loop() -> None:
        # The mock monitor runs on executor threads (reused across programs) and gives each one an
        # event loop that nobody closes; left to the garbage collector at interpreter exit they
        # print spurious errors. Create them here and close them once, at exit.
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            _THREAD_LOOPS.append(loop)

    def Invoke(self, request: Any) -> Any:
        self._own_thread_loop()
        return super().Invoke(request)

    def ReadResource(self, request: Any) -> Any:
        self._own_thread_loop()
        response = super().ReadResource(request)
        # StackReferences (reads of existing resources) arrive here, not through RegisterResource;
        # the plan document lists them with the resources (plan-format.md).
        self._record(
            request, response.urn, inputs=plain(json_format.MessageToDict(request.properties)), custom=True, id=request.id
        )
        return response

    def RegisterResource(self, request: Any) -> Any:
        self._own_thread_loop()
        response = super().RegisterResource(request)
        inputs = plain(json_format.MessageToDict(request.object))
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
        elif request.type.startswith("pulumi:providers:"):
            region = inputs.get("region")
            if isinstance(region, str):
                self.platform_mocks.provider_regions[f"{response.urn}::{response.id}"] = region
        self._record(
            request,
            response.urn,
            inputs=inputs,
            custom=bool(request.custom),
            id=response.id,
            retain_on_delete=bool(request.retainOnDelete),
        )
        return response

    def _record(
        self, request: Any, urn: str, *, inputs: dict[str, Any], custom: bool, id: str, retain_on_delete: bool = False
    ) -> None:
        registered = self.resources.get(urn)
        self.registrations.append(
            Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                provider=request.provider or None,
                custom=custom,
                inputs=inputs,
                id=id or None,
                state=dict(registered.state) if registered else {},
                retain_on_delete=retain_on_delete,
            )
        )

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn and request.urn == self.stack_urn:
            raw = json_format.MessageToDict(request.outputs)
            self.stack_outputs = plain(raw)
            self.raw_stack_outputs = _unwrap(raw)
        return super().RegisterResourceOutputs(request)


def _unwrap(value: Any) -> Any:
    """Like :func:`plain` but keeps secret values (to feed downstream StackReferences)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _unwrap(value.get("value"))
        if value.get(_SIG_KEY) == _RESOURCE_SIG:
            return value.get("id") or value.get("urn")
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass
class Rendered:
    project: str
    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    raw_outputs: dict[str, Any]
    stack_references: list[str]

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str) -> Registration:
        found = self.of_type(type_token)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_token}, found {len(found)}")
        return found[0]

    def by_name(self, name: str) -> Registration:
        for r in self.registrations:
            if r.name == name:
                return r
        raise KeyError(name)

    def by_urn(self, urn: str) -> Registration:
        for r in self.registrations:
            if r.urn == urn:
                return r
        raise KeyError(urn)


def render_program(
    program: Callable[[], Any],
    *,
    project: str,
    stack: str,
    region: str,
    config: Mapping[str, str] | None = None,
    secret_keys: tuple[str, ...] = (),
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Rendered:
    """Run ``program`` as the Pulumi program of ``project``/``stack`` under the mock runtime."""
    mocks = PlatformMocks(region, stack_outputs)
    mocks.scope = f"{project}/{stack}"
    monitor = RecordingMonitor(mocks)
    # Fresh runtime state for every program: settings, config and no root stack yet.
    pulumi_settings.ROOT.set(None)
    pulumi_settings.configure(
        pulumi_mocks.MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=pulumi_mocks.MockEngine(None),
            project=project,
            stack=stack,
            dry_run=False,
            organization=ORGANIZATION,
            callbacks=None,
            # The outputs the runtime waits for before the program ends: this program's only
            # (MockSettings keeps the previous program's set, and with it whatever that one left).
            outputs=set(),
        )
    )
    all_config = dict(config or {})
    all_config.setdefault("aws:region", region)
    set_all_config(all_config, list(secret_keys))
    loop = _ensure_event_loop()
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(_quiet_reported_errors)
    try:
        with offline_plan(), offline_speedups():
            _sync_await(run_in_stack(program))
    except (ConfigError, PlatformError):
        global _FAILED_ON_USER_ERROR
        _FAILED_ON_USER_ERROR = True
        _discard_leftovers(loop)
        raise
    except BaseException:
        _discard_leftovers(loop)
        raise
    finally:
        pulumi_settings.ROOT.set(None)
    return Rendered(
        project=project,
        stack=stack,
        registrations=sorted(monitor.registrations, key=lambda r: r.urn),
        outputs=monitor.stack_outputs,
        raw_outputs=monitor.raw_stack_outputs,
        # Sorted like the registrations: the mock monitor answers reads on executor threads, so the
        # order they arrive in is timing, not meaning; the document must not depend on it.
        stack_references=sorted(mocks.stack_references),
    )


# How long a failed program's leftover work may take to finish (it is cancelled after that).
LEFTOVER_SECONDS = 10.0


def _discard_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """A program that failed leaves work on the event loop: its other outputs and the registrations
    they lead to, which the runtime stops awaiting at the first error. The loop is shared, so the
    next program rendered in this process would run them, and they would register the failed
    program's resources with that program's monitor (the runtime's settings are global). Finish
    them now, while the failed program's settings are still the runtime's (their errors go to the
    engine's quiet handler); cancel what is still running after LEFTOVER_SECONDS."""
    deadline = time.monotonic() + LEFTOVER_SECONDS
    while pending := [task for task in asyncio.all_tasks(loop) if not task.done()]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            return
        loop.run_until_complete(asyncio.wait(pending, timeout=remaining))


@contextlib.contextmanager
def _program_directory(directory: Path) -> Iterator[None]:
    """Run as the Pulumi language host does: cwd and sys.path at the program's directory; forget the
    program's own modules afterwards so the next layer imports its own."""
    before_cwd = os.getcwd()
    before_modules = set(sys.modules)
    sys.path.insert(0, str(directory))
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before_cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(directory))
        for module in set(sys.modules) - before_modules:
            path = getattr(sys.modules[module], "__file__", None) or ""
            if path.startswith(str(directory)):
                del sys.modules[module]


def run_main(directory: Path) -> Callable[[], Any]:
    """A program callable that executes ``directory/__main__.py`` as Pulumi would."""

    def program() -> None:
        with _program_directory(directory):
            runpy.run_path(str(directory / "__main__.py"), run_name="__main__")

    return program
