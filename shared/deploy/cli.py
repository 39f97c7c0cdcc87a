"""A thin wrapper around the ``pulumi`` executable.

Everything the deploy tasks do to state goes through :meth:`Pulumi.run`, which

* runs the CLI with the child environment from :func:`child_environment` (state backend,
  passphrase passed through, never on the command line);
* streams the engine's output line by line, prefixed with the layer's name, or captures it;
* replaces every secret value it knows of (passphrase, tokens, AWS secret keys) with ``***`` in
  everything it prints or returns;
* on Ctrl-C (or SIGTERM from a CI runner) forwards one SIGINT to the CLI and waits for it: the
  engine then cancels cleanly, finishes the operations in flight and writes consistent state.
  The CLI runs in its own session so the terminal's Ctrl-C does not reach it directly: a second
  SIGINT would make the engine stop immediately and leave pending operations behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..manifest import REPO_ROOT

# 3.134.0 added PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER (see child_environment); every flag the
# tasks pass (stack rm --preserve-config, stack history --page-size, config set-all, cancel on
# self-managed backends) is older.
MIN_VERSION = (3, 134, 0)
MIN_VERSION_TEXT = ".".join(map(str, MIN_VERSION))
INSTALL_HINT = (
    "Install it with `curl -fsSL https://get.pulumi.com | sh` (or `brew install pulumi/tap/pulumi`; "
    "see https://www.pulumi.com/docs/iac/download-install/) and open a new shell so it is on PATH."
)

DEFAULT_STATE_DIR = REPO_ROOT / ".pulumi-state"
# Pulumi Cloud (and a self-hosted Pulumi Cloud) is spoken to over http(s); every other URL
# (file://, s3://, gs://, azblob://, ...) is a self-managed ("DIY") backend.
CLOUD_SCHEMES = ("https://", "http://")

# Values of these variables never appear in anything we print.
SECRET_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
REDACTED = "***"

# What the CLI prints when a stack is locked: self-managed backends write a lock file per
# operation; Pulumi Cloud answers 409.
LOCK_MARKERS = ("the stack is currently locked by", "another update is currently in progress")

Out = Callable[[str], None]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def default_out(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class Backend:
    url: str
    chosen_by_user: bool

    @property
    def self_managed(self) -> bool:
        """file://, s3://, gs://, azblob://: secrets are the stack's own job (passphrase or KMS)."""
        return not self.url.startswith(CLOUD_SCHEMES)

    @property
    def is_local_file(self) -> bool:
        return self.url.startswith("file://")


def backend_for(environ: Mapping[str, str], state_dir: Path = DEFAULT_STATE_DIR) -> Backend:
    """The user's ``PULUMI_BACKEND_URL`` (teams: ``s3://bucket``), else a file backend in the repo.

    A ``pulumi login`` stored in ~/.pulumi is deliberately not consulted: the backend every run
    uses must be visible in the environment, so CI cleanup reaches the same state as the deploy.
    """
    url = environ.get("PULUMI_BACKEND_URL", "").strip()
    if url:
        return Backend(url, True)
    return Backend(state_dir.resolve().as_uri(), False)


def child_environment(environ: Mapping[str, str], backend: Backend) -> dict[str, str]:
    """The CLI's environment: the user's, plus the backend and two settings of our own.

    ``PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER``: when a stack's ``Pulumi.<env>.yaml`` is not in
    this checkout (a CI cleanup job on a fresh clone; the deploy job wrote the file), the CLI uses
    the secrets provider recorded in the stack's state instead of inventing a default one (a
    passphrase), so ``down-all`` reaches KMS-encrypted stacks too.
    """
    env = dict(environ)
    env["PULUMI_BACKEND_URL"] = backend.url
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER", "true")
    return env


class Scrubber:
    """Replaces known secret values with ``***`` (longest first, so one cannot hide in another)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        values = [environ.get(name, "") for name in SECRET_VARIABLES]
        passphrase_file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        if passphrase_file:
            with contextlib.suppress(OSError):
                values.append(Path(passphrase_file).read_text().strip())
        self._values = sorted({v for v in values if v}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, REDACTED)
        return text


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def locate(environ: Mapping[str, str]) -> str | None:
    return shutil.which("pulumi", path=environ.get("PATH", os.defpath))


@dataclass
class Result:
    args: list[str]
    code: int
    stdout: str
    stderr: str = ""
    interrupted: bool = False
    started: bool = True

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.interrupted

    @property
    def text(self) -> str:
        """stdout and stderr, without colour codes (the CLI may colour its errors)."""
        return _ANSI.sub("", "\n".join(part for part in (self.stdout, self.stderr) if part))

    @property
    def locked(self) -> bool:
        lowered = self.text.lower()
        return any(marker in lowered for marker in LOCK_MARKERS)

    def error_lines(self, limit: int = 8) -> list[str]:
        """The CLI's own ``error:`` lines (with the lines that continue them), else the last lines."""
        lines = [line.rstrip() for line in self.text.splitlines() if line.strip()]
        picked: list[str] = []
        for index, line in enumerate(lines):
            if line.lstrip().lower().startswith("error:"):
                picked.append(line.strip())
                for follow in lines[index + 1 : index + 3]:
                    if follow.startswith((" ", "\t")) and not follow.lstrip().lower().startswith("error:"):
                        picked.append(follow.strip())
        if not picked:
            picked = [line.strip() for line in lines[-limit:]]
        unique: list[str] = []
        for line in picked:
            if line not in unique:
                unique.append(line)
        return unique[:limit] or [f"pulumi exited with code {self.code} and printed nothing"]


@dataclass
class Pulumi:
    """Runs ``pulumi <args>`` from the repository root with the deploy environment."""

    executable: str
    environ: Mapping[str, str]
    out: Out = default_out
    scrub: Scrubber = field(init=False)

    def __post_init__(self) -> None:
        self.scrub = Scrubber(self.environ)

    def command_text(self, args: Sequence[str]) -> str:
        """The command as echoed: secrets scrubbed, paths inside the repository relative to it."""
        root = str(REPO_ROOT) + os.sep
        shown = [a[len(root) :] if a.startswith(root) else a for a in args]
        return self.scrub("pulumi " + " ".join(shlex.quote(a) for a in shown))

    def run(self, args: Sequence[str], *, prefix: str | None = None, echo: bool = False) -> Result:
        """Run the CLI. With ``prefix``, stream stdout and stderr merged, each line prefixed."""
        args = list(args)
        tag = f"[{prefix}] " if prefix else ""
        if echo:
            self.out(f"{tag}$ {self.command_text(args)}")
        # The handlers are in place before the CLI starts: a Ctrl-C in between is never lost (it
        # would otherwise raise KeyboardInterrupt here and orphan a CLI in its own session).
        guard = _InterruptForwarder()
        with guard:
            if guard.count:
                self._notice(guard, tag)
                return Result(args, 130, "", "", interrupted=True, started=False)
            proc = subprocess.Popen(
                [self.executable, *args],
                cwd=REPO_ROOT,
                env=dict(self.environ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if prefix else subprocess.PIPE,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=(os.name == "posix"),
            )
            guard.attach(proc)
            if prefix:
                lines: list[str] = []
                assert proc.stdout is not None
                for raw in proc.stdout:
                    line = self.scrub(raw.rstrip("\n"))
                    lines.append(line)
                    self.out(tag + line)
                    self._notice(guard, tag)
                proc.wait()
                # Closed only once the CLI has exited (a long up-all runs hundreds of calls). Never
                # on an error above: a CLI still cancelling must keep a pipe to write to, or it
                # could die of SIGPIPE and leave its stack locked.
                proc.stdout.close()
                stdout, stderr = "\n".join(lines), ""
            else:
                stdout, stderr = proc.communicate()
        self._notice(guard, tag)
        return Result(args, proc.returncode, self.scrub(stdout or ""), self.scrub(stderr or ""), guard.count > 0)

    def _notice(self, guard: _InterruptForwarder, tag: str) -> None:
        # Printing from inside a signal handler can re-enter the stdout buffer; say it from here.
        while guard.pending:
            guard.pending -= 1
            if guard.told:
                self.out(
                    f"{tag}still waiting for the Pulumi engine to finish cancelling (do not kill it: that leaves the stack locked with pending operations)"
                )
            else:
                guard.told = True
                self.out(
                    f"{tag}interrupted: asked the Pulumi engine to cancel; waiting for it to stop cleanly so the state stays consistent"
                )


# CLIs run by worker threads (a parallel up-all): signal handlers only run on the main thread, so
# the main thread forwards through this registry (:func:`interrupt_running`).
_RUNNING: set[_InterruptForwarder] = set()
_RUNNING_LOCK = threading.Lock()
_STOPPING = threading.Event()


def interrupt_running() -> int:
    """Ask every CLI that worker threads run to cancel (one SIGINT each, however often this is
    called); a command a worker is about to start is not started. Returns how many were running."""
    _STOPPING.set()
    with _RUNNING_LOCK:
        guards = list(_RUNNING)
    for guard in guards:
        guard.count += 1
        guard.pending += 1
        guard._forward()
    return len(guards)


def wait_for_interrupt(seconds: float) -> bool:
    """Wait up to ``seconds``; True as soon as :func:`interrupt_running` was called (a Ctrl-C
    during a parallel run), so a worker thread's wait ends with it."""
    return _STOPPING.wait(seconds)


def reset_interrupts() -> None:
    """Start of a parallel run: no interrupt seen yet."""
    _STOPPING.clear()


# Pulumi Cloud has answered 404 for a stack that exists while several updates of one project
# run at once (pulumi/pulumi#8122). Only the service's own "[404] Not found" is meant; a 404 from
# AWS inside a resource error is not transient.
_CLOUD_404 = re.compile(r"^error: \[404\] not found", re.IGNORECASE | re.MULTILINE)


def transient_cloud_error(result: Result) -> bool:
    """Whether ``result`` failed with Pulumi Cloud's spurious 404 (retrying the command helps)."""
    return not result.ok and bool(_CLOUD_404.search(result.text))


class _InterruptForwarder:
    """While the CLI runs, SIGINT/SIGTERM/SIGHUP to us become one SIGINT to it; later ones only count.

    SIGHUP too: a closed terminal or SSH session would otherwise end us at once, and the CLI (in
    its own session, writing to a pipe nobody reads any more) would die on its next write, leaving
    the stack locked with pending operations. Asked to cancel, it stops cleanly instead."""

    SIGNALS = tuple(s for s in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.count = 0
        self.pending = 0
        self.told = False
        self.forwarded = False
        self._previous: dict[int, object] = {}

    def _forward(self) -> None:
        if self.forwarded or self.proc is None or self.proc.poll() is not None:
            return
        self.forwarded = True
        with contextlib.suppress(ProcessLookupError, OSError):
            self.proc.send_signal(signal.SIGINT)

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        self.pending += 1
        self._forward()

    def attach(self, proc: subprocess.Popen[str]) -> None:
        """The CLI has started; a signal that arrived while it was starting is forwarded now."""
        self.proc = proc
        if self.count:
            self._forward()

    def __enter__(self) -> _InterruptForwarder:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        else:
            with _RUNNING_LOCK:
                _RUNNING.add(self)
                if _STOPPING.is_set():
                    self.count = self.pending = 1
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc and exc[0] is not None and self.proc is not None and self.proc.poll() is None:
                # Leaving on an error of our own (a broken stdout pipe): ask the engine to cancel once
                # and wait for it, never kill it.
                self._forward()
                self.proc.wait()
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(self)
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]


_LOCK_HOLDER = re.compile(r"created by (?P<user>[^@\s]+)@(?P<host>\S+) \(pid (?P<pid>\d+)\)(?: at (?P<at>\S+))?")


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (owned by someone else) or we cannot tell: assume it runs
    return True


def lock_verdict(result: Result, hostname: str | None = None) -> str:
    """Which kind of lock this is, from the holder the CLI names (self-managed backends only)."""
    holders = [m.groupdict() for m in _LOCK_HOLDER.finditer(result.text)]
    if not holders:
        return "another pulumi run on it is in progress, or an earlier run was killed and left a stale lock"
    here = (hostname or socket.gethostname()).split(".")[0].lower()
    parts = []
    for h in holders:
        when = f" at {h['at']}" if h.get("at") else ""
        who = f"{h['user']}@{h['host']} (pid {h['pid']}){when}"
        if h["host"].split(".")[0].lower() == here:
            if _pid_running(int(h["pid"])):
                parts.append(f"taken by {who}; that process is still running on this machine, so a run is probably in progress")
            else:
                parts.append(
                    f"STALE: taken by {who}, and no process {h['pid']} runs on this machine any more (the run was killed)"
                )
        else:
            parts.append(f"taken by {who} on another machine: a run may be in progress there (a CI job, a teammate)")
    return "; ".join(parts)


def describe_lock(
    result: Result, backend: Backend, layer_dir: Path, stack: str, hostname: str | None = None, *, env: str | None = None
) -> str:
    """What a lock means (in progress or stale, when the CLI says who holds it) and how to clear it.

    ``stack`` is what the CLI is given (``<org>/<env>`` on Pulumi Cloud), ``env`` the environment
    the tasks take (default: ``stack``)."""
    env = env or stack
    details = [line.strip() for line in result.text.splitlines() if ".pulumi/locks" in line or "created by" in line]
    try:
        cwd = str(layer_dir.relative_to(REPO_ROOT))
    except ValueError:
        cwd = str(layer_dir)
    lines = [
        f"stack {stack} of {cwd} is locked: {lock_verdict(result, hostname)}.",
        *(f"  {d}" for d in details),
        "If a run is in progress (a teammate, another CI job), wait for it and run this task again. If none is (a stale lock):",
        f"  `pulumi cancel --yes --stack {stack} --cwd {cwd}` "
        + (
            "(on a self-managed backend it deletes the stack's lock files, in progress or not)"
            if backend.self_managed
            else "(cancels the update Pulumi Cloud has in progress)"
        )
        + f", then `invoke refresh --layer {layer_dir.name} --env {env}` to reconcile what the killed run left.",
        f"  If refresh reports pending operations: `pulumi stack export --stack {stack} --cwd {cwd} --file state.json`, "
        f"check those resources in AWS, remove `pending_operations`, then `pulumi stack import --stack {stack} --cwd {cwd} --file state.json`.",
    ]
    return "\n".join(lines)


# Failures a retry cannot fix: (markers in the CLI's error lines, what it means, how to fix it).
# ``{stack}`` (as the CLI takes it), ``{env}``, ``{cwd}`` and ``{layer}`` are filled in by :func:`permanent_failure`.
_PERMANENT_FAILURES = (
    (
        ("marked for protection", "because it is protected", "deletion protection", "deletionprotection"),
        "a resource is protected (Pulumi `protect`, or AWS deletion protection on a `protect: true` environment)",
        # Not `protect: false`: that would also skip the final snapshot and delete the backups and the key.
        "set `decommission: true` in environments/{env}.yaml (keep `protect: true`; up-all writes it into every layer), "
        "run `invoke up-all --env {env}` to lift deletion protection, then `invoke down-all --env {env}`; the final "
        "snapshot, the automated backups and the data KMS key are kept "
        "(or, for Pulumi's flag only: `pulumi state unprotect --all --yes --stack {stack} --cwd {cwd}`)",
    ),
    (
        ("incorrect passphrase", "passphrase must be set"),
        "the secrets passphrase is missing or not the one the stack was created with",
        "export the PULUMI_CONFIG_PASSPHRASE the stacks were created with (or pass the stacks' --secrets-provider)",
    ),
    (
        (
            "expiredtoken",
            "invalidclienttokenid",
            "security token included in the request is expired",
            "no valid credential sources",
        ),
        "the AWS credentials expired or are invalid",
        "refresh them (`aws sso login`, new keys, the CI role) and run the task again",
    ),
)


def permanent_failure(result: Result, *, stack: str, layer_dir: Path, env: str | None = None) -> str | None:
    """Why retrying ``result``'s command cannot help, with the fix; None for a possibly transient failure."""
    if result.ok:
        return None
    text = " ".join(result.error_lines(limit=40)).lower()
    try:
        cwd = str(layer_dir.relative_to(REPO_ROOT))
    except ValueError:
        cwd = str(layer_dir)
    for markers, meaning, fix in _PERMANENT_FAILURES:
        if any(marker in text for marker in markers):
            return f"{meaning}; retrying cannot help. Fix: " + fix.format(
                stack=stack, env=env or stack, cwd=cwd, layer=layer_dir.name
            )
    return None


__all__ = [
    "DEFAULT_STATE_DIR",
    "INSTALL_HINT",
    "MIN_VERSION",
    "Backend",
    "Pulumi",
    "Result",
    "Scrubber",
    "backend_for",
    "child_environment",
    "describe_lock",
    "interrupt_running",
    "locate",
    "lock_verdict",
    "parse_version",
    "permanent_failure",
    "reset_interrupts",
    "transient_cloud_error",
    "wait_for_interrupt",
]
