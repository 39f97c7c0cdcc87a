"""Render an environment's layers in parallel processes, following the layer graph.

Most of an offline plan's time is Python importing the pulumi_aws files the layers use. The layers
are split into groups, one process per group (at most one per usable CPU), chosen so that the
groups import as little in common as possible while the graph keeps every process busy: each
process imports what its layers use (while upstream layers render elsewhere), renders a layer as
soon as the outputs it reads arrive, and sends its :class:`LayerPlan` back. The parent only routes
outputs. On 2 CPUs the demo environment splits into network, edge in one process and data,
compute, payments in the other: network renders first while the other process imports, and the
network process imports edge's files (WAFv2, CloudFront) while data and compute render.

Processes are forked from the caller when it runs no other thread (they inherit its imports; a
CLI run), else they come from a ``forkserver`` that has imported the plan engine once (a test
process, whose mock-runtime executors are threads that must not be forked).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, cast

from .. import APP, manifest, stack_config
from ..errors import PlatformError
from ..references import stack_reference_name
from ..stack_config import StackConfig
from . import lean
from .document import LayerPlan, _render_layer
from .engine import ORGANIZATION, _program_directory
from .mocks import _ACCOUNT, mock_account

SHARED = Path(__file__).resolve().parents[1]
# `import pulumi_aws as aws` ... `aws.ec2.Vpc(...)`: the provider classes a source file names.
_ALIAS = re.compile(r"^\s*import (pulumi_\w+)(?: as (\w+))?", re.MULTILINE)
# `from shared.service.task import X`, `from shared import waf`: the shared modules a file uses.
_SHARED_IMPORT = re.compile(r"^\s*from shared((?:\.\w+)*) import ([\w, ()\n]+?)$|^\s*import shared((?:\.\w+)+)", re.MULTILINE)
# Rough costs for choosing the groups (measured on the 2-core CI machine; only their ratio
# matters): Python imports pulumi_aws source at about 14 MB/s, and renders a layer in about 0.2 s.
_IMPORT_BYTES_PER_SECOND = 14e6
_RENDER_SECONDS = 0.2


def _shared_file(dotted: str) -> Path | None:
    path = SHARED.joinpath(*dotted.split(".")) if dotted else SHARED
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def layer_sources(layer: manifest.Layer) -> list[Path]:
    """The layer's own Python files and the shared/ modules they import (transitively)."""
    todo = sorted(layer.directory.rglob("*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8")
        for package, names, plain in _SHARED_IMPORT.findall(text):
            candidates = [plain.lstrip(".")] if plain else [package.lstrip(".")]
            if not plain:
                # `from shared.service import task`: `task` may be a module of that package.
                for name in re.findall(r"\w+", names):
                    candidates.append(f"{package.lstrip('.')}.{name}".lstrip("."))
            for dotted in candidates:
                found = _shared_file(dotted)
                if found is not None and found not in seen:
                    todo.append(found)
    return sorted(seen)


def layer_classes(layer: manifest.Layer) -> list[tuple[str, str]]:
    """The provider names (``("pulumi_aws.ec2", "Vpc")``) the layer's sources use, as written."""
    names: set[tuple[str, str]] = set()
    for path in layer_sources(layer):
        text = path.read_text(encoding="utf-8")
        for package, alias in _ALIAS.findall(text):
            for sub, name in re.findall(rf"\b{re.escape(alias or package)}\.([a-z][a-z0-9_]*)\.([A-Za-z]\w*)", text):
                names.add((f"{package}.{sub}", name))
    return sorted(names)


def _import_files(classes: Sequence[tuple[str, str]]) -> dict[str, int]:
    """The SDK files (path -> bytes) a lean import of ``classes`` loads, found without importing."""
    files: dict[str, int] = {}
    for module, name in classes:
        for path in lean.files_for(module, name):
            files[str(path)] = path.stat().st_size
    return files


def _partitions(items: Sequence[str], most: int) -> Iterator[list[list[str]]]:
    """Every split of ``items`` into at most ``most`` non-empty groups (order kept inside a group)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in _partitions(rest, most):
        for index in range(len(smaller)):
            yield [*smaller[:index], [first, *smaller[index]], *smaller[index + 1 :]]
        if len(smaller) < most:
            yield [[first], *smaller]


def _finish_time(
    groups: Sequence[Sequence[str]],
    files: Mapping[str, Mapping[str, int]],
    reads: Mapping[str, Sequence[str]],
    order: Sequence[str],
) -> float:
    """When the last layer would be rendered, if each group ran in its own process on its own core:
    a process imports a layer's files (those it has not yet), waits for what the layer reads
    (importing its later layers' files meanwhile), renders it, and goes on to its next layer."""
    group_of = {name: index for index, group in enumerate(groups) for name in group}
    clock = [0.0] * len(groups)
    loaded: list[set[str]] = [set() for _ in groups]
    finished: dict[str, float] = {}
    for name in order:
        g = group_of[name]
        for path, size in files[name].items():
            if path not in loaded[g]:
                loaded[g].add(path)
                clock[g] += size / _IMPORT_BYTES_PER_SECOND
        ready = max([clock[g], *(finished[upstream] for upstream in reads[name])])
        idle = ready - clock[g]
        for later in groups[g][groups[g].index(name) + 1 :]:
            for path, size in files[later].items():
                if idle > 0 and path not in loaded[g]:
                    loaded[g].add(path)
                    idle -= size / _IMPORT_BYTES_PER_SECOND
        # A file still loading when the outputs arrive delays the render until it is loaded.
        clock[g] = ready + max(0.0, -idle) + _RENDER_SECONDS
        finished[name] = clock[g]
    return max(finished.values(), default=0.0)


def best_split(
    names: Sequence[str], files: Mapping[str, Mapping[str, int]], reads: Mapping[str, Sequence[str]], processes: int
) -> list[list[str]]:
    """The split of ``names`` (dependency order) into at most ``processes`` groups whose estimated
    finish (see :func:`_finish_time`) is earliest; on a tie, the one with fewer processes."""
    best: tuple[float, int, list[list[str]]] | None = None
    for split in _partitions(names, max(1, processes)):
        groups = sorted((sorted(group, key=names.index) for group in split), key=lambda group: names.index(group[0]))
        score = (round(_finish_time(groups, files, reads, names), 3), len(groups), groups)
        if best is None or score[:2] < best[:2]:
            best = score
    assert best is not None
    return best[2]


def layer_groups(ordered: Sequence[manifest.Layer], processes: int) -> list[list[manifest.Layer]]:
    """The layers' groups for at most ``processes`` processes (:func:`best_split`), estimated from
    the SDK files each layer's sources name."""
    names = [layer.name for layer in ordered]
    files = {layer.name: _import_files(layer_classes(layer)) for layer in ordered}
    reads = {layer.name: [r for r in layer.reads if r in names] for layer in ordered}
    by_name = {layer.name: layer for layer in ordered}
    return [[by_name[name] for name in group] for group in best_split(names, files, reads, processes)]


def _preload(layer: manifest.Layer) -> None:
    """Import the layer's own package (and the shared modules it imports) ahead of its render;
    forgotten again afterwards so the program imports it as Pulumi would, but what it imported
    stays loaded."""
    package = f"{APP}_{layer.name}"
    with _program_directory(layer.directory), contextlib.suppress(ImportError):
        importlib.import_module(package)


class _Records(logging.Handler):
    """What a layer process logs, kept to be sent to the caller with the layer's result: the caller
    logs it where its own handlers (or redirections: the compliance check's quiet second rendering)
    say, as the serial renderer would. A forkserver child would otherwise print to the real stderr."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None  # picklable, whatever the arguments were
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        taken, self.records = self.records, []
        return taken


def _replay(records: Sequence[logging.LogRecord]) -> None:
    for record in records:
        logging.getLogger(record.name).handle(record)


def _worker(
    conn: Connection,
    group: Sequence[manifest.Layer],
    env: str,
    region: str,
    configs: Mapping[str, StackConfig],
    account: str,
    directories: tuple[Path, Path],
    log_level: int = logging.WARNING,
) -> None:
    # A forkserver child starts from a fresh interpreter, not from the caller: it must run the same
    # layer programs as the caller (a test points the directories at a temporary copy). Config files
    # are never read here: the caller assembled ``configs``.
    manifest.STACKS_DIR, stack_config.ENVIRONMENTS_DIR = directories
    kept = _Records()
    root = logging.getLogger()
    root.handlers = [kept]  # this process's own: a forked child inherits the caller's handlers
    root.setLevel(log_level)
    try:
        classes = [layer_classes(layer) for layer in group]
        for index, layer in enumerate(group):
            lean.touch(classes[index])
            _preload(layer)
            # While the outputs this layer reads are rendered elsewhere, import what the group's
            # later layers use, one name at a time so the render starts soon after they arrive.
            later = iter([name for names in classes[index + 1 :] for name in names])
            while not conn.poll():
                name = next(later, None)
                if name is None:
                    break
                lean.touch([name])
            upstream = conn.recv()
            if upstream is None:  # an upstream layer failed: nothing to render
                return
            with mock_account(account):
                result = _render_layer(layer, env, region, configs[layer.name], upstream)
            conn.send(("ok", result, kept.take()))
    except BaseException as exc:  # sent to the parent, which raises it there
        try:
            conn.send(("error", exc, kept.take()))
        except Exception:  # not picklable: its message still is
            conn.send(
                (
                    "error",
                    PlatformError(f"rendering layers {', '.join(lyr.name for lyr in group)} failed: {type(exc).__name__}: {exc}"),
                    [],
                )
            )
    finally:
        conn.close()


def _context() -> Any:  # a multiprocessing context; typeshed's BaseContext lacks Process
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        # No other thread can hold a lock the child would inherit locked: forking is safe, and the
        # child starts with everything this process already imported.
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["shared.plan.engine", "shared.plan.document", lean.PACKAGE])
        return ctx
    return multiprocessing.get_context("spawn")


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def render_layers(
    ordered: Sequence[manifest.Layer],
    env: str,
    region: str,
    configs: Mapping[str, StackConfig],
    processes: int | None = None,
) -> list[LayerPlan]:
    """Render ``ordered`` (dependency order) in at most ``processes`` processes (default: one per
    usable CPU), grouped by :func:`layer_groups`; results in ``ordered``'s order.

    ``configs`` holds each layer's assembled config (the caller read the files once): a layer
    process never reads a config file itself."""
    groups = layer_groups(ordered, processes or usable_cpus())
    ctx = _context()
    account = _ACCOUNT.get()
    directories = (manifest.STACKS_DIR, stack_config.ENVIRONMENTS_DIR)
    pipes: list[Connection] = []
    processes_started = []
    for group in groups:
        parent_end, child_end = ctx.Pipe()
        process = ctx.Process(
            target=_worker,
            args=(
                child_end,
                group,
                env,
                region,
                {lyr.name: configs[lyr.name] for lyr in group},
                account,
                directories,
                logging.getLogger().getEffectiveLevel(),
            ),
            name="plan-" + "-".join(lyr.name for lyr in group),
            daemon=True,
        )
        process.start()
        child_end.close()
        pipes.append(parent_end)
        processes_started.append(process)
    results: dict[str, LayerPlan] = {}
    outputs_by_stack: dict[str, dict[str, Any]] = {}
    sent = [0] * len(groups)  # how many layers of each group were sent their upstream outputs
    failure: BaseException | None = None
    finished = False
    try:
        while len(results) < len(ordered) and failure is None:
            for index, group in enumerate(groups):
                # A process renders its layers in order: the next one is sent its upstream outputs
                # once the previous one is rendered and everything it reads is.
                if sent[index] < len(group) and all(lyr.name in results for lyr in group[: sent[index]]):
                    layer = group[sent[index]]
                    if all(r in results for r in layer.reads if r in configs):
                        sent[index] += 1
                        # A process that failed while importing has sent its error and closed its
                        # end: the send breaks, and the error (still buffered) is read below.
                        with contextlib.suppress(OSError):
                            pipes[index].send(outputs_by_stack)
            # Every unfinished process, sent its outputs or not: one still importing writes only to
            # report an error, which then stops the plan at once.
            waiting = {pipes[i]: i for i, group in enumerate(groups) if any(lyr.name not in results for lyr in group)}
            for ready in wait(list(waiting)):
                conn = cast(Connection, ready)
                group = groups[waiting[conn]]
                try:
                    kind, payload, records = conn.recv()
                except EOFError:
                    names = ", ".join(lyr.name for lyr in group)
                    failure = PlatformError(f"the process rendering layers {names} ended without a result")
                    break
                _replay(records)
                if kind != "ok":
                    failure = payload
                    break
                name = payload.layer.name
                results[name] = payload
                outputs_by_stack[stack_reference_name(ORGANIZATION, name, env)] = payload.rendered.raw_outputs
        finished = failure is None
    finally:
        for index, group in enumerate(groups):
            if sent[index] < len(group):
                with contextlib.suppress(OSError):
                    pipes[index].send(None)
        for process in processes_started:
            if not finished:
                # A layer failed (or this process was interrupted): the other renders are of no use
                # and have no effect outside their process, so stop them now rather than wait for
                # each to finish importing and rendering.
                process.terminate()
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in pipes:
            conn.close()
    if failure is not None:
        raise failure
    return [results[layer.name] for layer in ordered]
