"""Shared fixtures: render layers offline (the plan engine) and read what they registered."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared import manifest, stack_config
from shared.plan import collector, document, mocks
from shared.plan.document import LayerPlan, Plan, build_plan
from shared.settings import ENV_FALLBACKS
from shared.stack_config import StackConfig

ROOT = Path(__file__).resolve().parent.parent

# A test worker keeps everything the suite imports and renders alive (SDK modules, memoized
# renders); at the collector's default pace it re-scanned that heap for about 12 s of each worker's
# 60 s. The pace the plan renders at (shared/plan/collector.py) for the whole session: about 3 s.
gc.set_threshold(*collector.THRESHOLD)
# moto builds each account's EC2 backend (every test that touches EC2 under mock_aws, and every
# region) with about 2,600 public AMIs, each with a snapshot and a volume: 0.1 s per backend, about
# 2.5 s of CPU over a run. No code here reads an AMI (Fargate tasks only). The drivers and stand-ins
# the tests start inherit it. A test that wants them sets it back with monkeypatch.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
# Tests import layer modules directly (``from mlapi_network.vpc import Vpc``), as each layer's
# program does from its own directory: put the manifest's layer directories on the path.
for _layer in manifest.LAYERS:
    if str(_layer.directory) not in sys.path:
        sys.path.insert(0, str(_layer.directory))

# Identical renders are shared for the session (each xdist worker has its own): tests only read
# plans, and most ask for the same few. Keyed by every argument; a test that changes files the
# render reads (environment or stack files) uses its own env name, so it never hits a stale entry.
# A test that patches the render machinery to observe a render (a recording RegisterResource)
# must see a real render: then nothing is cached or reused.
_RENDERED: dict[str, Plan] = {}


def _hooks() -> tuple[object, ...]:
    from shared.plan import engine, mocks

    methods = ("RegisterResource", "ReadResource", "Invoke", "RegisterResourceOutputs", "new_resource", "call")
    patched = [vars(cls).get(name) for cls in (engine.RecordingMonitor, mocks.PlatformMocks) for name in methods]
    return (*patched, engine.render_program, engine.run_main, engine.offline_speedups)


_PRISTINE = _hooks()


def plan_layers(
    *names: str,
    env: str = "test",
    region: str = "us-east-1",
    config: dict[str, dict[str, Any]] | None = None,
) -> Plan:
    """Render the named layers (and everything they read, first) with per-layer config overrides.

    Memoized per session: do not mutate the returned plan."""
    if _hooks() != _PRISTINE:
        return _render(*names, env=env, region=region, config=config)
    # The directories are part of the key: a test that renders from a copy (`checkout`) gets its own entry.
    directories = [str(manifest.STACKS_DIR), str(stack_config.ENVIRONMENTS_DIR)]
    key = json.dumps([sorted(names), env, region, config or {}, directories], sort_keys=True, default=str)
    if key not in _RENDERED:
        _RENDERED[key] = _render(*names, env=env, region=region, config=config)
    return _RENDERED[key]


def _render(*names: str, env: str, region: str, config: dict[str, dict[str, Any]] | None) -> Plan:
    wanted: set[str] = set()

    def add(name: str) -> None:
        if name not in wanted:
            wanted.add(name)
            for upstream in manifest.by_name(name).reads:
                add(upstream)

    for name in names:
        add(name)
    layers = [layer for layer in manifest.LAYERS if layer.name in wanted]
    return build_plan(env, region, layers=layers, overrides=config or {})


# One layer's render is a function of its program (the layer directory), its assembled config, its
# upstream layers' outputs, the region and stack, and the mock account: many tests render the same
# layer with the same inputs (the default environment under `invoke check`, `invoke plan` and
# build_plan; the network under every data test), through build_plan's own path. Each is rendered
# once per session and handed out as a fresh copy (tests edit documents in place), and what the
# render logged is logged again, so a test reading the warnings sees them. Not while a test patches
# the render machinery (as for plan_layers), nor in a layer process of the parallel renderer forked
# from the test process: that one renders, or the parallel plan would be compared with itself. A
# test that patches a layer's own code to change what it renders must use its own env name, like a
# test that changes the files a render reads.
_real_render_layer = document._render_layer
_TEST_PROCESS = os.getpid()


@dataclass(frozen=True)
class _LayerRender:
    rendered: bytes  # pickled: a fresh copy for every caller, whatever the previous one changed
    seconds: float
    protected: bool
    decommissioning: bool
    records: tuple[logging.LogRecord, ...]


_LAYER_RENDERS: dict[str, _LayerRender] = {}


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _render_layer_once(
    layer: manifest.Layer, env: str, region: str, cfg: StackConfig, outputs_by_stack: dict[str, dict[str, Any]]
) -> LayerPlan:
    if _hooks() != _PRISTINE or os.getpid() != _TEST_PROCESS:
        return _real_render_layer(layer, env, region, cfg, outputs_by_stack)
    root = logging.getLogger()
    # The level decides which records a render creates at all: part of the key.
    inputs = [str(layer.directory), layer.project, env, region, cfg.values, cfg.secret_keys, outputs_by_stack]
    # The settings' fallbacks from the environment (TEAM, COST_CENTER, ...) end up in the tags.
    inputs.append({var: os.environ.get(var) for var, _ in ENV_FALLBACKS.values()})
    key = json.dumps([*inputs, mocks._ACCOUNT.get(), root.getEffectiveLevel()], sort_keys=True, default=str)
    done = _LAYER_RENDERS.get(key)
    if done is None:
        with _shared_render(key) as shared:
            done = shared.get()
            if done is None:
                keep = _Keep()
                root.addHandler(keep)
                try:
                    plan = _real_render_layer(layer, env, region, cfg, outputs_by_stack)
                finally:
                    root.removeHandler(keep)
                done = _LayerRender(
                    pickle.dumps(plan.rendered), plan.seconds, plan.protected, plan.decommissioning, tuple(keep.records)
                )
                shared.put(done)
                _LAYER_RENDERS[key] = done
                return plan
        _LAYER_RENDERS[key] = done
    for record in done.records:
        logging.getLogger(record.name).handle(record)
    rendered = pickle.loads(done.rendered)
    return LayerPlan(layer, rendered, cfg.sources, done.seconds, done.protected, done.decommissioning)


document._render_layer = _render_layer_once


# The xdist workers of one run share their layer renders through files: a render one worker did is
# read (about 1 ms) by the other instead of rendered again (0.1-0.5 s); about a fifth of the renders
# of a run repeat on the other worker. A worker about to render a key holds that key's lock, so the
# other waits for the result rather than rendering it too. The directory belongs to the run (xdist's
# run id) and the controller removes it at the end. Without xdist (one process) nothing is written.
def _shared_renders_dir(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"mlapi-test-renders-{run_id}"


_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_SHARED_RENDERS = _shared_renders_dir(_RUN_ID) if _RUN_ID else None


class _SharedRender:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def get(self) -> _LayerRender | None:
        if self.path is None or not self.path.exists():
            return None
        return pickle.loads(self.path.read_bytes())

    def put(self, done: _LayerRender) -> None:
        if self.path is None:
            return
        try:
            data = pickle.dumps(done)
        except (pickle.PicklingError, TypeError, AttributeError):  # a log record holding something unpicklable
            return
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, self.path)


@contextlib.contextmanager
def _shared_render(key: str) -> Iterator[_SharedRender]:
    if _SHARED_RENDERS is None:
        yield _SharedRender(None)
        return
    _SHARED_RENDERS.mkdir(parents=True, exist_ok=True)
    path = _SHARED_RENDERS / hashlib.sha256(key.encode()).hexdigest()
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield _SharedRender(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def layer_of(plan: Plan, name: str):
    for lp in plan.layers:
        if lp.layer.name == name:
            return lp.rendered
    raise KeyError(name)


def policy(value: Any) -> dict[str, Any]:
    """Parse a policy document input (JSON string or dict)."""
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="session")
def default_plan() -> Plan:
    """The whole default environment, rendered once for the session."""
    return build_plan("demo", "us-east-1")


# --- Tests never write inside the checkout ------------------------------------------------------
# Parallel xdist workers (and a developer's own environment and stack files) share the checkout:
# a test that needs environments/<env>.yaml or stacks/<layer>/Pulumi.<env>.yaml writes them into
# a copy (`checkout`), and the session fails if the checkout changed anyway.


@dataclass(frozen=True)
class Checkout:
    """A temporary copy of the files a plan reads: every layer directory (without anybody's stack
    files) and an empty environments/ directory, which the plan engine and the tasks read instead of
    the repository's for the duration of the test."""

    stacks: Path
    environments: Path

    def stack_file(self, layer: str, env: str) -> Path:
        return self.stacks / layer / f"Pulumi.{env}.yaml"

    def environment_file(self, env: str) -> Path:
        return self.environments / f"{env}.yaml"


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Checkout:
    copy = Checkout(tmp_path / "stacks", tmp_path / "environments")
    shutil.copytree(manifest.STACKS_DIR, copy.stacks, ignore=shutil.ignore_patterns("__pycache__", "Pulumi.*.yaml"))
    copy.environments.mkdir()
    monkeypatch.setattr(manifest, "STACKS_DIR", copy.stacks)
    monkeypatch.setattr(stack_config, "ENVIRONMENTS_DIR", copy.environments)
    return copy


# --- `invoke <task>` in the test's process ---------------------------------------------------------
# A subprocess would re-import pulumi_aws and the layers for every command (seconds each); the
# tasks' command-line contract is the same in-process. One test (tests/test_plan.py) still compares
# a real `python -m invoke plan` process with this runner byte for byte.

# Settings the developer's shell may hold that would change what the tasks render.
TASK_ENV_UNSET = ("ENVIRONMENT_SUFFIX", "MLAPI_PROTECT", "AWS_REGION", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class Invoked:
    """What a `python -m invoke ...` process would have left: exit code, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


class InvokeRunner:
    """Runs the repository's tasks (tasks.py's collection) through invoke's own ``Program`` with an
    argv, as ``python -m invoke <args>`` from the repository root does, and returns an
    :class:`Invoked`. Output is captured at the file descriptors (what a layer process or ``c.run``
    prints too). ``Program`` prints an ``Exit``'s message and exits with its code, as the real
    command does; any other exception is not caught, so it fails the test (a real process would
    have printed a traceback). The ``checkout`` fixture's directories apply, being patched in this
    process."""

    def __init__(self, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self._capfd = capfd
        self._monkeypatch = monkeypatch

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Invoked:
        import invoke
        from invoke import Program

        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))  # tasks.py lives at the repository root
        import tasks

        with self._monkeypatch.context() as patch:
            for name in TASK_ENV_UNSET:
                patch.delenv(name, raising=False)
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.chdir(ROOT)
            # The same program as invoke.main.program, with the repository's collection given.
            program = Program(
                name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"], version=invoke.__version__, namespace=tasks.ns
            )
            self._capfd.readouterr()  # what the test printed before is not the command's
            try:
                program.run(["invoke", *args])
                code = 0
            except SystemExit as exit_:
                code = _exit_status(exit_.code)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            out, err = self._capfd.readouterr()
        return Invoked(code, out, err)


def _exit_status(code: object) -> int:
    """The exit status ``sys.exit(code)`` gives a process (a non-int is printed and means 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


@pytest.fixture
def run_invoke(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InvokeRunner:
    """``run_invoke("plan", "--env", "demo", ...)``: see :class:`InvokeRunner`."""
    return InvokeRunner(capfd, monkeypatch)


# Written by the tools on purpose and git-ignored, so `git status` alone would not show a test
# writing there: the guard also compares what these directories hold.
_IGNORED_OUTPUTS = ("plans", "cfn-outputs", ".pulumi-state")


def _checkout_state() -> dict[str, tuple[str, int, int]] | None:
    """Every changed or untracked file of the checkout (and every file in the git-ignored output
    directories), with its status, size and modification time; None when git is unavailable."""
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "-z", "--untracked-files=all"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if status.returncode != 0:  # not a git checkout (an sdist, a copied tree)
        return None
    entries: dict[str, str] = {}
    fields = iter(status.stdout.split("\0"))
    for field in fields:
        if not field:
            continue
        code, path = field[:2], field[3:]
        entries[path] = code
        if code[0] in "RC":  # a rename or copy is followed by its source path
            next(fields, None)
    for directory in _IGNORED_OUTPUTS:
        for path in (ROOT / directory).rglob("*"):
            if path.is_file():
                entries[str(path.relative_to(ROOT))] = "!!"
    state: dict[str, tuple[str, int, int]] = {}
    for path, code in entries.items():
        try:
            stat = (ROOT / path).stat()
            state[path] = (code, stat.st_size, stat.st_mtime_ns)
        except OSError:  # deleted
            state[path] = (code, -1, -1)
    return state


_CHECKOUT_BEFORE = pytest.StashKey[dict[str, tuple[str, int, int]] | None]()


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    # Before any test runs (and before xdist starts its workers): what the checkout looks like.
    if not _is_xdist_worker(config):
        config.stash[_CHECKOUT_BEFORE] = _checkout_state()
        # The run id xdist hands its workers (they share renders under it): chosen here so that
        # this process knows which directory to remove at the end.
        if getattr(config.option, "testrunuid", "") is None:
            config.option.testrunuid = uuid.uuid4().hex
        if getattr(config.option, "testrunuid", None):  # a reused --testrunuid never reads an old run's renders
            shutil.rmtree(_shared_renders_dir(config.option.testrunuid), ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run_id = getattr(config.option, "testrunuid", None)
    if not _is_xdist_worker(config) and run_id:
        shutil.rmtree(_shared_renders_dir(run_id), ignore_errors=True)
    before = config.stash.get(_CHECKOUT_BEFORE, None)
    if _is_xdist_worker(config) or before is None:
        return
    after = _checkout_state()
    if after is None:
        return
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    if not changed:
        return
    shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
    message = (
        f"the tests changed the checkout: {shown}. Tests must write only under tmp_path "
        "(environment and stack files: the `checkout` fixture in tests/conftest.py)."
    )
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")  # end the progress line
        reporter.write_sep("!", message, red=True)
    else:
        print(message, file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # Ending a worker took 4 s: pytest's last garbage hunt (five full collections, for __del__
    # errors to report) and the interpreter's own collections at exit, each over the whole heap the
    # session built. One full collection here still runs every finalizer of the session's garbage
    # (pytest reports what they raise, as before); freezing what survives then leaves those later
    # collections almost nothing to scan: 4 s -> 0.6 s. Only garbage a finalizer creates during
    # this collection is not hunted further.
    gc.collect()
    gc.freeze()


# --- boto3 sessions share botocore's data loader -----------------------------------------------------
# Each boto3 Session reads and parses botocore's JSON models (endpoints, partitions, the service)
# anew: ~0.1 s per session and client, and a deploy task makes several (pre-flight, account checks).
# The models are read-only data; one loader per data path serves every session of the test process,
# as one loader serves every client of one session.

_BOTOCORE_LOADERS: dict[str | None, Any] = {}


def share_botocore_loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the rest of the test, new boto3/botocore sessions reuse the loader (and its parsed
    models) of an earlier session with the same data path."""
    import botocore.loaders
    import botocore.session

    def create_loader(search_path_string: str | None = None) -> Any:
        loader = _BOTOCORE_LOADERS.get(search_path_string)
        if loader is None:
            loader = _BOTOCORE_LOADERS[search_path_string] = botocore.loaders.create_loader(search_path_string)
        # boto3 appends its own data directory to the loader of every session it creates.
        loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
        return loader

    monkeypatch.setattr(botocore.session, "create_loader", create_loader)


@pytest.fixture
def shared_botocore_loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    """See :func:`share_botocore_loaders`."""
    share_botocore_loaders(monkeypatch)


@pytest.fixture
def waits(monkeypatch):
    """Logical name -> logical names it waits for (depends_on and inputs), as the engine receives them."""
    from shared.plan import engine

    found: dict[str, set[str]] = {}
    register = engine.RecordingMonitor.RegisterResource

    def recording(self, request):
        found[request.name] = {urn.rsplit("::", 1)[-1] for urn in request.dependencies}
        return register(self, request)

    monkeypatch.setattr(engine.RecordingMonitor, "RegisterResource", recording)
    return found


@pytest.fixture
def aliases(monkeypatch):
    """Logical name -> the aliases it was registered with (as text: alias specs and URNs), as the
    engine receives them; filled by the plans rendered during the test."""
    from shared.plan import engine

    found: dict[str, str] = {}
    register = engine.RecordingMonitor.RegisterResource

    def recording(self, request):
        found[request.name] = repr(list(request.aliases)) + repr(list(request.aliasURNs))
        return register(self, request)

    monkeypatch.setattr(engine.RecordingMonitor, "RegisterResource", recording)
    return found
