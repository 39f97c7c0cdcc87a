"""The recording stand-in (tests/pulumi_standin.py) run in a thread of the test's own process.

A deploy test makes 40-60 CLI calls; as processes each costs a Python start-up (30-65 ms) for about
4 ms of work. :class:`InProcessCli` replaces the ``subprocess`` module that ``shared.deploy.cli``
and ``shared.deploy.preflight`` see with one whose ``Popen`` runs the stand-in's :func:`run` in a
thread whenever the executable is the test's launcher, and starts a real process for anything else.

The fake process gets exactly what the real ``Popen`` would (the resolved launcher path as
``argv[0]``, ``env``, ``cwd``, stdin/stdout/stderr wiring incl. ``stderr=STDOUT``, the new session)
and behaves as one for the callers: ``stdout``/``stderr`` are OS pipes read while the stand-in
writes, ``wait``/``poll``/``communicate``/``returncode`` follow the thread, and SIGINT (also
``terminate``/``kill``) reaches the stand-in's :class:`~pulumi_standin.Interrupts`. The process
boundary itself (the launcher, PATH lookup, real signals) stays covered by the tests that run the
launcher as a process: the Ctrl-C drivers and the parity test in tests/test_deploy.py.

What a thread cannot do, and so what a test of it must run through the launcher process instead:
die. A SIGINT the stand-in is not waiting for (or ``kill``/``terminate``) kills a real CLI at once;
here the call still completes (state and stack files written, output printed) and only its exit
status (-SIGINT) says it was signalled. A ``kill`` after a timeout likewise waits for the call.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pulumi_standin
import pytest

from shared.deploy import cli, preflight

# No Linux process has a pid above pid_max's ceiling (2**22): a signal sent to one of these by
# mistake fails with ProcessLookupError instead of reaching a real process.
_PIDS = itertools.count(2**22 + 1)


class StandinProcess:
    """What ``subprocess.Popen`` returns, for one run of the stand-in in a thread."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        text: bool = False,
        errors: str | None = None,
        bufsize: int = -1,
        start_new_session: bool = False,
    ) -> None:
        # Anything else a caller passes is a TypeError here: a keyword this fake does not emulate.
        if not text:
            raise ValueError("the in-process stand-in speaks text only (text=True), as the deploy code asks")
        if stdin not in (None, subprocess.DEVNULL):
            raise ValueError("the stand-in never reads stdin: pass DEVNULL (or nothing)")
        self.args = list(args)
        self.cwd = os.fspath(cwd) if cwd is not None else os.getcwd()
        if not os.path.isdir(self.cwd):
            raise FileNotFoundError(2, "No such file or directory", self.cwd)  # as Popen's chdir fails
        self.env = dict(os.environ if env is None else env)
        self.stdin, self.start_new_session = stdin, start_new_session
        self.pid = next(_PIDS)
        self.returncode: int | None = None
        self.interrupts = pulumi_standin.Interrupts()
        self._unarmed_signal = False
        self._code = 1

        writers: list[IO[str]] = []

        def pipe(kind: int | None, default: IO[str] | None) -> tuple[IO[str] | None, IO[str] | None]:
            """(the caller's end, the stand-in's end) for one stream."""
            if kind == subprocess.PIPE:
                # Both ends outlive this call: the thread closes its end, the caller (or
                # communicate) the other.
                read_fd, write_fd = os.pipe()
                theirs = open(write_fd, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - line-buffered: streamed
                writers.append(theirs)
                return open(read_fd, encoding="utf-8", errors=errors or "strict"), theirs
            if kind == subprocess.DEVNULL:
                devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed by the thread
                writers.append(devnull)
                return None, devnull
            if kind == subprocess.STDOUT and default is not None:
                return None, default  # the same stream: lines keep the order they were written in
            raise ValueError(f"the in-process stand-in supports PIPE, DEVNULL and stderr=STDOUT, not {kind!r}")

        self.stdout, out = pipe(stdout, None)
        self.stderr, err = pipe(stderr, out)
        self._writers = writers
        self._thread = threading.Thread(
            target=self._main, args=(out, err), name=f"pulumi {' '.join(self.args[1:3])}", daemon=True
        )
        self._thread.start()

    def _main(self, out: IO[str], err: IO[str]) -> None:
        code = 1
        try:
            code = pulumi_standin.run(
                self.args[1:], environ=self.env, cwd=self.cwd, stdout=out, stderr=err, interrupts=self.interrupts
            )
        except BaseException:  # a script's uncaught exception: traceback on stderr, exit status 1
            traceback.print_exc(file=err)
        finally:
            for stream in self._writers:
                stream.close()  # the caller's reads end (EOF), as when a process exits
            # A SIGINT the stand-in was not waiting for kills a real process (Python's default
            # handler re-raises it); a thread cannot be killed, so only the status says so.
            self._code = -signal.SIGINT if self._unarmed_signal else code

    # -- the Popen interface the deploy code uses ------------------------------------------------------

    def poll(self) -> int | None:
        if self.returncode is None and not self._thread.is_alive():
            self.returncode = self._code
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        code = self.poll()
        assert code is not None
        return code

    def communicate(self, input: str | None = None, timeout: float | None = None) -> tuple[str | None, str | None]:
        if input:
            raise ValueError("the stand-in never reads stdin")
        read: dict[str, str] = {}
        readers = [
            threading.Thread(target=lambda name=name, stream=stream: read.__setitem__(name, stream.read()), daemon=True)
            for name, stream in (("stdout", self.stdout), ("stderr", self.stderr))
            if stream is not None
        ]
        for reader in readers:
            reader.start()  # both at once: a full stderr pipe must not stall the stand-in
        self.wait(timeout)
        for reader in readers:
            reader.join()
        self._close()
        return read.get("stdout"), read.get("stderr")

    def send_signal(self, sig: int) -> None:
        if self.poll() is not None:
            return  # as Popen: nothing to signal any more
        if sig != signal.SIGINT:
            raise ValueError(f"the in-process stand-in only receives SIGINT, not {signal.Signals(sig).name}")
        if not self.interrupts.armed:
            self._unarmed_signal = True
        self.interrupts.deliver()

    def terminate(self) -> None:
        self.send_signal(signal.SIGINT)

    def kill(self) -> None:
        self.send_signal(signal.SIGINT)

    def _close(self) -> None:
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> StandinProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()
        self.wait()


class _Subprocess:
    """The ``subprocess`` module as the deploy code sees it under :class:`InProcessCli`: its own
    ``Popen``, and ``run`` built on it; everything else is the real module's."""

    def __init__(self, popen: Callable[..., Any]) -> None:
        self.Popen = popen

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def run(
        self,
        args: Sequence[str],
        *,
        input: str | None = None,
        capture_output: bool = False,
        timeout: float | None = None,
        check: bool = False,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[Any]:
        if capture_output:
            kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
        with self.Popen(args, **kwargs) as process:
            try:
                stdout, stderr = process.communicate(input, timeout=timeout)
            except BaseException:
                process.kill()
                raise
            code = process.poll()
        if check and code:
            raise subprocess.CalledProcessError(code, args, stdout, stderr)
        return subprocess.CompletedProcess(args, code, stdout, stderr)


class InProcessCli:
    """Runs ``launcher`` (the test's ``<tmp>/bin/pulumi``) in-process for the deploy code; ``runs``
    are the fake processes started, in order (what each was given)."""

    MODULES = (cli, preflight)  # the modules that start the CLI

    def __init__(self, launcher: Path) -> None:
        self.launcher = os.path.realpath(launcher)
        self.runs: list[StandinProcess] = []

    def popen(self, args: Any, **kwargs: Any) -> Any:
        if isinstance(args, (list, tuple)) and args and os.path.realpath(args[0]) == self.launcher:
            if not os.access(args[0], os.X_OK):
                raise PermissionError(13, "Permission denied", args[0])
            process = StandinProcess(args, **kwargs)
            self.runs.append(process)
            return process
        return subprocess.Popen(args, **kwargs)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> InProcessCli:
        shim = _Subprocess(self.popen)
        for module in self.MODULES:
            monkeypatch.setattr(module, "subprocess", shim)
        return self
