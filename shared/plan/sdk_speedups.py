"""Two costs of the Pulumi SDK that an offline render pays for nothing, removed while it renders.

Profiling a render (the offline plan, and every test that renders a layer) showed most of its time
outside the layer's code in two places of ``pulumi.runtime``:

* ``resource._get_stack_trace``: for every resource registered or read, the SDK captures the whole
  Python call stack (reading each frame's source line) and turns every frame's file into a URI,
  so that the engine can show where a resource was declared. The mock monitor never reads it.
  From a deep stack (a test under pytest) it was about a fifth of a render.
* ``stack.wait_for_rpcs``: at the end of a program the SDK waits for every tracked output. Its loop
  waits for *the first* of all pending outputs to finish, puts the others back, and waits again:
  each round registers and removes a callback on every pending output, so a layer with N outputs
  costs about N*N/2 callbacks (a million in a run of the suite). :func:`_wait_for_rpcs` below is the
  SDK's function with that loop made linear: each output gets one callback, outputs are awaited in
  the order they finish, outputs created meanwhile are picked up as before, and the first failure
  is raised as before (the SDK raised the first of those that had finished when it woke: the same
  one unless two fail at once).

:func:`offline_speedups` swaps both in for the duration of one render and puts the SDK's own back
afterwards; a real ``pulumi up`` never imports this. The wait loop is replaced only while the SDK's
function is exactly the one this copy was made from (:data:`SDK_WAIT_FOR_RPCS_SHA256`, checked
once per process): a new SDK version that changes it keeps its own, and
tests/test_plan_speed.py fails so that someone looks at the new one. Rendered documents are
byte-identical with and without these (tested).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import hashlib
import inspect
from collections.abc import Iterator
from typing import Any

from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import stack as sdk_stack
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import SETTINGS, _get_rpc_manager

# sha256 of inspect.getsource(pulumi.runtime.stack.wait_for_rpcs) in pulumi 3.272.0.
SDK_WAIT_FOR_RPCS_SHA256 = "c0f9027f85ad09255ded0a1908033b490f76d303a3e40b50d3cf47a69265469d"


def _no_stack_trace(*_args: Any, **_kwargs: Any) -> Any:
    return source_pb2.StackTrace()


async def _wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    """pulumi.runtime.stack.wait_for_rpcs with a linear wait for the outstanding outputs."""
    rpc_manager = _get_rpc_manager()
    while True:
        # As in the SDK: pump the loop and await each queued RPC in turn.
        while len(rpc_manager.rpcs) > 0:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exn:
                if rpc_manager.unhandled_exception is not None:
                    cause = rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
                    raise exn from cause
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
        if await_all_outstanding_tasks:
            await _wait_for_outputs()
        if len(rpc_manager.rpcs) == 0:
            break


async def _wait_for_outputs() -> None:
    finished: collections.deque[asyncio.Future[Any]] = collections.deque()
    woken = asyncio.Event()
    watched: set[asyncio.Future[Any]] = set()

    def on_done(task: asyncio.Future[Any]) -> None:
        finished.append(task)
        woken.set()

    while True:
        # Take what is tracked now (outputs created while waiting are tracked there too), as the SDK does.
        with SETTINGS.lock:
            tracked = list(SETTINGS.outputs)
            SETTINGS.outputs.clear()
        for task in tracked:
            if task not in watched:
                watched.add(task)
                task.add_done_callback(on_done)
        if not watched:
            return
        while not finished:
            woken.clear()
            await woken.wait()
        while finished:
            task = finished.popleft()
            watched.discard(task)
            await task  # a failed output raises its error here, as in the SDK


@functools.cache
def wait_loop_matches() -> bool:
    """Whether the installed SDK's wait_for_rpcs is the one :func:`_wait_for_rpcs` was copied from."""
    try:
        source = inspect.getsource(sdk_stack.wait_for_rpcs)
    except (OSError, TypeError):
        return False
    return hashlib.sha256(source.encode()).hexdigest() == SDK_WAIT_FOR_RPCS_SHA256


@contextlib.contextmanager
def offline_speedups() -> Iterator[None]:
    """Render with the SDK's stack capture off and its output wait linear; restore both after."""
    saved: list[tuple[Any, str, Any]] = []
    replace_wait = wait_loop_matches()  # before anything is replaced: nothing to undo if it raises
    try:
        if hasattr(sdk_resource, "_get_stack_trace"):
            saved.append((sdk_resource, "_get_stack_trace", sdk_resource._get_stack_trace))
            sdk_resource._get_stack_trace = _no_stack_trace
        if replace_wait:
            saved.append((sdk_stack, "wait_for_rpcs", sdk_stack.wait_for_rpcs))
            sdk_stack.wait_for_rpcs = _wait_for_rpcs
        yield
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)
