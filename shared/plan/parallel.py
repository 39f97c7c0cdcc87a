"""Render an environment's layers in parallel processes, following the layer graph.

Most of an offline plan's time is Python importing the pulumi_aws modules a layer uses (each
service module is large). One process per layer, all started at once, lets those imports overlap:
a process first imports what its layer's source names, then waits for the outputs of the layers
it reads, renders, and sends its :class:`LayerPlan` back. The parent only routes outputs, so a
layer starts rendering the moment its last upstream finishes.

Processes come from a ``forkserver`` that has imported the plan engine once (pulumi, grpc,
protobuf): forking it is cheap, and unlike forking the caller it is safe when the caller already
runs threads (the mock runtime's executors in a test process).
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import re
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, cast

from .. import APP, manifest, stack_config
from ..errors import PlatformError
from ..references import stack_reference_name
from ..stack_config import StackConfig
from .document import LayerPlan, _render_layer
from .engine import ORGANIZATION, _program_directory
from .mocks import _ACCOUNT, mock_account

# `import pulumi_aws as aws` ... `aws.ec2.Vpc(...)`: the provider modules a layer's source names.
_ALIAS = re.compile(r"^\s*import (pulumi_\w+)(?: as (\w+))?", re.MULTILINE)


def preload_modules(layer: manifest.Layer) -> list[str]:
    """The provider modules (``pulumi_aws.ec2``, ...) the layer's own source files name."""
    modules: set[str] = set()
    for path in sorted(layer.directory.rglob("*.py")):
        text = path.read_text()
        for package, alias in _ALIAS.findall(text):
            modules.add(package)
            for sub in re.findall(rf"\b{re.escape(alias or package)}\.([a-z][a-z0-9_]*)\.[A-Z]", text):
                modules.add(f"{package}.{sub}")
    return sorted(modules)


def _preload(layer: manifest.Layer) -> None:
    for module in preload_modules(layer):
        # A name that is not a module (a function of the package) is simply not preloaded.
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    # The layer's own package (and the shared modules it imports); forgotten again afterwards so
    # the program imports it as Pulumi would, but what it imported stays loaded.
    package = f"{APP}_{layer.name}"
    with _program_directory(layer.directory), contextlib.suppress(ImportError):
        importlib.import_module(package)


def _worker(
    conn: Connection,
    layer: manifest.Layer,
    env: str,
    region: str,
    cfg: StackConfig,
    account: str,
    directories: tuple[Path, Path],
) -> None:
    # A forkserver child starts from a fresh interpreter, not from the caller: it must run the same
    # layer programs as the caller (a test points the directories at a temporary copy). Config files
    # are never read here: the caller assembled ``cfg``.
    manifest.STACKS_DIR, stack_config.ENVIRONMENTS_DIR = directories
    try:
        _preload(layer)
        upstream = conn.recv()
        if upstream is None:  # an upstream layer failed: nothing to render
            return
        with mock_account(account):
            result = _render_layer(layer, env, region, cfg, upstream)
        conn.send(("ok", result))
    except BaseException as exc:  # sent to the parent, which raises it there
        try:
            conn.send(("error", exc))
        except Exception:  # not picklable: its message still is
            conn.send(("error", PlatformError(f"rendering layer {layer.name} failed: {type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def _context() -> Any:  # a multiprocessing context; typeshed's BaseContext lacks Process
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["shared.plan.engine", "shared.plan.document"])
        return ctx
    return multiprocessing.get_context("spawn")


def render_layers(
    ordered: Sequence[manifest.Layer], env: str, region: str, configs: Mapping[str, StackConfig]
) -> list[LayerPlan]:
    """Render ``ordered`` (dependency order) with one process per layer; results in that order.

    ``configs`` holds each layer's assembled config (the caller read the files once): a layer
    process never reads a config file itself."""
    ctx = _context()
    account = _ACCOUNT.get()
    directories = (manifest.STACKS_DIR, stack_config.ENVIRONMENTS_DIR)
    pipes: dict[str, Connection] = {}
    processes = []
    for layer in ordered:
        parent_end, child_end = ctx.Pipe()
        process = ctx.Process(
            target=_worker,
            args=(child_end, layer, env, region, configs[layer.name], account, directories),
            name=f"plan-{layer.name}",
            daemon=True,
        )
        process.start()
        child_end.close()
        pipes[layer.name] = parent_end
        processes.append(process)
    results: dict[str, LayerPlan] = {}
    outputs_by_stack: dict[str, dict[str, Any]] = {}
    sent: set[str] = set()
    failure: BaseException | None = None
    finished = False
    try:
        while len(results) < len(ordered) and failure is None:
            for layer in ordered:
                if layer.name not in sent and all(r in results for r in layer.reads):
                    sent.add(layer.name)
                    # A process that failed while importing has sent its error and closed its end:
                    # the send breaks, and the error (still buffered) is read below.
                    with contextlib.suppress(OSError):
                        pipes[layer.name].send(outputs_by_stack)
            # Every unfinished layer, sent its upstream outputs or not: a process still importing
            # writes only to report an error, which then stops the plan at once.
            waiting = {pipes[lyr.name]: lyr.name for lyr in ordered if lyr.name not in results}
            for ready in wait(list(waiting)):
                conn = cast(Connection, ready)
                name = waiting[conn]
                try:
                    kind, payload = conn.recv()
                except EOFError:
                    failure = PlatformError(f"the process rendering layer {name} ended without a result")
                    break
                if kind != "ok":
                    failure = payload
                    break
                results[name] = payload
                outputs_by_stack[stack_reference_name(ORGANIZATION, name, env)] = payload.rendered.raw_outputs
        finished = failure is None
    finally:
        for layer in ordered:
            if layer.name not in sent:
                with contextlib.suppress(OSError):
                    pipes[layer.name].send(None)
        for process in processes:
            if not finished:
                # A layer failed (or this process was interrupted): the other renders are of no use
                # and have no effect outside their process, so stop them now rather than wait for
                # each to finish importing and rendering.
                process.terminate()
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in pipes.values():
            conn.close()
    if failure is not None:
        raise failure
    return [results[layer.name] for layer in ordered]
