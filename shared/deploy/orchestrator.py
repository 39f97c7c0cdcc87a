"""Deploy and destroy whole environments, or one layer, through the Pulumi CLI.

Rules every operation keeps:

* Pre-flight first (:mod:`.preflight`); nothing touches state until every check passed.
* The stack name is the environment suffix, passed explicitly (``--stack <env>``) to every command
  and written as ``environmentSuffix`` into every layer's config, so two environments never share
  a stack or a resource name, and two runs for different environments in one checkout never
  depend on which stack happens to be selected.
* Order comes from the manifest: ``up-all`` deploys in dependency order, ``down-all`` destroys
  in reverse and never destroys a layer while a layer that reads it still has resources.
* Nothing is reported as deployed or destroyed unless the CLI exited 0 for it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import manifest
from ..errors import ConfigError, PlatformError
from ..stack_config import (
    assemble,
    environment_file,
    environment_layers,
    environment_org,
    environment_values,
    to_config_string,
)
from . import cli, health, outputs, preflight
from .cli import Pulumi, Result, backend_for, child_environment, describe_lock

POLICY_DIR = manifest.REPO_ROOT / "policy"


def _interruptible_sleep(seconds: float) -> None:
    """``time.sleep``, which a Ctrl-C ends in a worker thread of a parallel walk too.

    Signals reach only the main thread, where ``time.sleep`` raises KeyboardInterrupt by itself. A
    worker waiting to retry a destroy (up to MAX_RETRY_DELAY) or polling the health gate (up to
    --health-timeout) would otherwise sit out its whole wait after the user pressed Ctrl-C."""
    if threading.current_thread() is threading.main_thread():
        time.sleep(seconds)
    elif cli.wait_for_interrupt(seconds):
        raise KeyboardInterrupt


_sleep = _interruptible_sleep
# The wait before a destroy retry doubles after each failed attempt, up to this many seconds (or
# up to --retry-delay itself when that is larger: an explicit first wait is honoured as given).
MAX_RETRY_DELAY = 600.0
# Pulumi Cloud's spurious 404s under parallel updates (pulumi/pulumi#8122) go away on a retry.
CLOUD_404_RETRIES = 2

# A resource line of `pulumi preview --diff`: + create, - delete, ~ update, +- / -+ replace, ...
_DIFF_LINE = re.compile(r"^\s*(?:\+-|-\+|\+\+|--|[+~-])\s+\S")
# `pulumi preview --expect-no-changes` finding changes: older CLIs exit 255 with "no changes were
# expected but changes were proposed"; newer ones exit 7 (ExitNoChanges) and may say "... for
# preview but changes were proposed" or "... but changes occurred".
_EXIT_NO_CHANGES = 7
_NO_CHANGES_EXPECTED = re.compile(r"no changes were expected(?: for \S+)? but changes (?:were proposed|occurred)", re.IGNORECASE)

_CHANGE_WORDS = (
    ("create", "created"),
    ("update", "updated"),
    ("replace", "replaced"),
    ("delete", "deleted"),
    ("same", "unchanged"),
)


class DeployError(Exception):
    """A deploy task failed; ``code`` is the exit status (2: refused before touching state)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Interrupted(DeployError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code=130)


class _StepFailed(Exception):
    def __init__(self, layer: manifest.Layer, step: str, result: Result, detail: str | None = None) -> None:
        super().__init__(step)
        self.layer, self.step, self.result = layer, step, result
        self.changes = "-"
        # What went wrong when it was not the CLI (the health gate, the idempotence check).
        self.detail = detail


@dataclass
class LayerResult:
    layer: str
    result: str
    changes: str = "-"
    seconds: float | None = None


@dataclass
class _Walk:
    """What a walk over the layer graph did: per-layer results, failures, the interruption."""

    results: dict[str, LayerResult] = field(default_factory=dict)
    failures: list[_StepFailed] = field(default_factory=list)
    interrupted: Interrupted | None = None


def _live_output(environ: Mapping[str, str]) -> bool:
    """A live status line only on a terminal, never in CI (logs keep plain lines)."""
    return sys.stdout.isatty() and environ.get("CI", "").lower() not in ("true", "1")


class _Console:
    """Thread-safe output for parallel layers: every line whole (the CLI's already carry their
    ``[layer]`` prefix); on a terminal, a status line under them with each running layer's
    resource changes so far and elapsed time."""

    _CHANGE = re.compile(r"\b(created|updated|replaced|deleted)\b")

    def __init__(self, out: Callable[[str], None], *, live: bool) -> None:
        self.out, self.live = out, live
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}
        self.changes: dict[str, int] = {}
        self.done: dict[str, str] = {}
        self._drawn = False

    def _clear(self) -> None:
        if self._drawn:
            sys.stdout.write("\r\x1b[K")
            self._drawn = False

    def _draw(self) -> None:
        if not self.live or not self.started:
            return
        now = time.monotonic()
        parts = [
            f"{name} {self.done.get(name) or f'{self.changes.get(name, 0)} changes {now - t:.0f}s'}"
            for name, t in self.started.items()
        ]
        sys.stdout.write("\r\x1b[K" + " | ".join(parts)[:200])
        sys.stdout.flush()
        self._drawn = True

    def __call__(self, line: str) -> None:
        with self.lock:
            self._clear()
            if line.startswith("[") and "] " in line:
                name = line[1 : line.index("] ")]
                if name in self.started and self._CHANGE.search(line[len(name) + 3 :]):
                    self.changes[name] = self.changes.get(name, 0) + 1
            self.out(line)
            self._draw()

    def start(self, name: str) -> None:
        with self.lock:
            self.started[name] = time.monotonic()

    def finish(self, name: str, result: str) -> None:
        with self.lock:
            self.done[name] = result

    def refresh(self) -> None:
        with self.lock:
            self._clear()
            self._draw()

    def close(self) -> None:
        with self.lock:
            self._clear()


def describe_changes(changes: Mapping[str, Any]) -> str:
    parts = [f"{changes[key]} {word}" for key, word in _CHANGE_WORDS if changes.get(key)]
    return ", ".join(parts) or "no changes"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


class Deployer:
    """One environment (``env``, the stack name of every layer) and how to deploy it."""

    def __init__(
        self,
        env: str,
        *,
        region: str | None = None,
        secrets_provider: str | None = None,
        policy: bool = True,
        skip_preview: bool = False,
        attempts: int = 3,
        retry_delay: float = 60,
        keep_stacks: bool = False,
        health_check: bool = True,
        health_timeout: float = health.DEFAULT_TIMEOUT,
        check_idempotent: bool = False,
        environ: Mapping[str, str] | None = None,
        layers: Sequence[manifest.Layer] | None = None,
        parallel: int | None = None,
        out: Callable[[str], None] = cli.default_out,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.env = env
        self.region_flag = region
        self.region: str | None = None
        self.secrets_provider = secrets_provider or None
        self.policy = policy
        self.skip_preview = skip_preview
        if int(attempts) < 1:
            raise DeployError(f"--attempts must be 1 or more (got {attempts}).", code=2)
        if float(retry_delay) < 0:
            raise DeployError(f"--retry-delay must be 0 or more seconds (got {retry_delay}).", code=2)
        self.attempts = int(attempts)
        self.retry_delay = float(retry_delay)
        self.keep_stacks = keep_stacks
        if float(health_timeout) <= 0:
            raise DeployError(
                f"--health-timeout must be more than 0 seconds (got {health_timeout}); --no-health-check skips the gate.", code=2
            )
        self.health_check = health_check
        self.health_timeout = float(health_timeout)
        self.check_idempotent = check_idempotent
        self.environ = dict(os.environ if environ is None else environ)
        if parallel is not None and int(parallel) < 1:
            raise DeployError(f"--parallel must be 1 or more layers at once (got {parallel}).", code=2)
        # None: every layer that is ready runs at once (the graph allows few: at most 2 today).
        self.parallel = int(parallel) if parallel is not None else None
        # Every layer of the manifest (down-all destroys whatever has a stack) and the ones this
        # environment selects (everything else), from the one reader of that choice.
        self.all_layers = manifest.ordered(tuple(layers) if layers is not None else manifest.LAYERS)
        try:
            selected = {lyr.name for lyr in environment_layers(env)} if layers is None else None
        except (ConfigError, PlatformError) as exc:
            raise DeployError(f"{exc}", code=2) from None
        self.layers = [lyr for lyr in self.all_layers if selected is None or lyr.name in selected]
        self.out = out
        self._sleep = sleep
        self.backend = backend_for(self.environ, cli.DEFAULT_STATE_DIR)
        # The stack every command names. On Pulumi Cloud a bare name lands in the user's default
        # organization, while the layers' StackReferences read <pulumiOrg>/<project>/<env>: name
        # the organization (pre-flight refuses Cloud without one). Self-managed backends have none.
        self.org = environment_org(env, self.environ)
        self.stack = f"{self.org}/{env}" if self.org and not self.backend.self_managed else env
        self.cli: Pulumi | None = None

    # -- helpers -----------------------------------------------------------------------------------

    def layer(self, name: str) -> manifest.Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        if any(layer.name == name for layer in self.all_layers):
            raise DeployError(
                f"layer {name} is not part of environment {self.env}: environments/{self.env}.yaml selects "
                f"layers: [{', '.join(lyr.name for lyr in self.layers)}]. Add {name} there to deploy it; "
                f"{self._next('down-all')} destroys every layer that has a stack, selected or not.",
                code=2,
            )
        raise DeployError(f"unknown layer {name!r}; the layers are: {', '.join(lyr.name for lyr in self.layers)}", code=2)

    def _dependents(self, layer: manifest.Layer) -> list[manifest.Layer]:
        """Every layer of the manifest that reads ``layer``, selected by the environment or not: a
        layer the environment file no longer selects may still have a stack that reads it."""
        return manifest.dependents(layer.name, tuple(self.all_layers))

    def _pause(self, seconds: float) -> None:
        (self._sleep or _sleep)(seconds)

    def retry_delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): doubling, capped."""
        return float(min(self.retry_delay * 2 ** (attempt - 1), max(self.retry_delay, MAX_RETRY_DELAY)))

    def _interrupted_between(self, where: str) -> Interrupted:
        """Ctrl-C while no Pulumi command ran (between commands, or waiting to retry)."""
        return Interrupted(
            f"interrupted {where}; no Pulumi command was running, so every stack is as its last command left it.\n"
            "Next: run the same task again to continue."
        )

    def _next(self, task: str, layer: manifest.Layer | None = None) -> str:
        parts = ["invoke", task]
        if layer is not None:
            parts += ["--layer", layer.name]
        parts += ["--env", self.env]
        if self.region_flag and task in ("up-all", "up", "preview"):
            parts += ["--region", self.region_flag]
        return "`" + " ".join(parts) + "`"

    def _preflight(
        self,
        *,
        layers: Sequence[manifest.Layer],
        settings_layers: Sequence[manifest.Layer] = (),
        need_region: bool = False,
        need_aws: bool = True,
        account_checks: bool = False,
    ) -> None:
        pre = preflight.run(
            self.env,
            self.backend,
            self.environ,
            layers=layers,
            settings_layers=settings_layers,
            region=self.region_flag,
            need_region=need_region,
            need_aws=need_aws,
            secrets_provider=self.secrets_provider,
            org=self.org,
            policy_dir=POLICY_DIR if settings_layers and self._policy_args() else None,
            account_checks=account_checks,
            service_layers=[layer.name for layer in settings_layers if health.runs_service(layer.name)],
        )
        self.out(f"Pre-flight for environment {self.env}:")
        for fact in pre.facts:
            self.out(f"  {fact}")
        if settings_layers and self._policy_args():
            shown = (
                os.path.relpath(POLICY_DIR, manifest.REPO_ROOT) if POLICY_DIR.is_relative_to(manifest.REPO_ROOT) else POLICY_DIR
            )
            self.out(f"  policy pack: {shown} (skip with --no-policy)")
        if not pre.ok:
            raise DeployError("pre-flight failed, nothing was changed:\n" + "\n".join(f"  - {p}" for p in pre.problems), code=2)
        self.region = pre.region
        if self.backend.is_local_file and not self.backend.chosen_by_user:
            cli.DEFAULT_STATE_DIR.mkdir(parents=True, exist_ok=True)
        assert pre.executable is not None
        self.cli = Pulumi(pre.executable, child_environment(self.environ, self.backend), out=self.out)

    def _run(self, args: list[str], *, prefix: str | None = None, echo: bool = False) -> Result:
        assert self.cli is not None, "pre-flight first"
        result = self.cli.run(args, prefix=prefix, echo=echo)
        for _ in range(CLOUD_404_RETRIES):
            if self.backend.self_managed or not cli.transient_cloud_error(result):
                break
            self.out(f"[{prefix or 'pulumi'}] Pulumi Cloud answered a spurious 404 (pulumi/pulumi#8122); retrying the command")
            self._pause(2.0)
            result = self.cli.run(args, prefix=prefix, echo=echo)
        if result.interrupted:
            where = f" of layer {prefix}" if prefix else ""
            refresh = f"`invoke refresh --layer {prefix} --env {self.env}`" if prefix else "`invoke refresh`"
            what = f"`pulumi {' '.join(args[:2])}`{where}"
            if not result.started:
                stopped = f"interrupted before {what} started; nothing after it ran."
            elif result.code == 0:
                stopped = f"interrupted: {what} finished (exit code 0) as Ctrl-C arrived; nothing after it ran."
            else:
                stopped = (
                    f"interrupted during {what}: the engine was asked to cancel and has stopped "
                    f"(exit code {result.code}); nothing after it ran."
                )
            raise Interrupted(
                f"{stopped}\nNext: run the same task again to continue; if the engine reported pending operations, run {refresh} first."
            )
        return result

    def _stack_args(self, layer: manifest.Layer) -> list[str]:
        return ["--stack", self.stack, "--cwd", str(layer.directory), "--non-interactive"]

    def _policy_args(self) -> list[str]:
        if self.policy and (POLICY_DIR / "PulumiPolicy.yaml").exists():
            return ["--policy-pack", str(POLICY_DIR)]
        return []

    def stack_entry(self, layer: manifest.Layer) -> dict[str, Any] | None:
        """The layer's stack of this environment as ``pulumi stack ls --json`` lists it, or None."""
        cloud = not self.backend.self_managed and bool(self.org)
        organization = ["--organization", self.org] if cloud else []
        result = self._run(["stack", "ls", "--json", *organization, "--cwd", str(layer.directory), "--non-interactive"])
        if not result.ok:
            raise _StepFailed(layer, "list its stacks (`pulumi stack ls`)", result)
        try:
            entries = json.loads(result.stdout or "[]") or []
        except json.JSONDecodeError:
            raise _StepFailed(layer, "read `pulumi stack ls --json`", result) from None
        # Names are shown relative to the current project (and, on Cloud, the user's default
        # organization): "env", "org/env" or "org/project/env". On Cloud the list is of our
        # organization only, so a stack of the same name in another one is never taken for ours.
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            name = str(entry.get("name", ""))
            if name == self.env or (name.endswith("/" + self.env) and (not cloud or name.startswith(self.org + "/"))):
                return dict(entry)
        return None

    def _deployed(self, layer: manifest.Layer) -> bool:
        """Whether the layer's stack exists and exports outputs (what a StackReference reads).

        Every layer's program exports outputs, and Pulumi records them only when the program ran to
        its end: a stack whose first ``up`` failed holds its root ``pulumi:pulumi:Stack``, the
        default provider and whatever was created before the failure, but no outputs: not
        deployed. `pulumi stack ls --json` saves the outputs call for a stack with no resources."""
        entry = self.stack_entry(layer)
        if entry is None:
            return False
        count = entry.get("resourceCount")
        if isinstance(count, int) and count <= 1:
            return False
        return bool(self._stack_outputs(layer))

    def _latest_update(self, layer: manifest.Layer) -> dict[str, Any] | None:
        """The newest entry of ``pulumi stack history --json`` ({} when there is none, None if unreadable)."""
        result = self._run(["stack", "history", "--json", "--page-size", "1", *self._stack_args(layer)])
        try:
            history = json.loads(result.stdout) if result.ok else None
        except json.JSONDecodeError:
            return None
        if not isinstance(history, list):
            return None
        return history[0] if history else {}

    def _history_mark(self, layer: manifest.Layer) -> dict[str, Any] | None:
        """The stack's newest history entry before our run, to tell our run's entry from it.

        The whole entry, not its ``version``: a self-managed backend (the default) records no
        version, so every entry of its ``stack history --json`` says 0."""
        return self._latest_update(layer)

    def _changes(self, layer: manifest.Layer, since: dict[str, Any] | None) -> str:
        """Resource changes of the update the CLI recorded after the entry ``since`` (our run)."""
        latest = self._latest_update(layer)
        if latest is None:
            return "?"
        if not latest or latest == since:
            return "-"  # the CLI recorded no update for this run (it failed before starting one)
        changes = latest.get("resourceChanges")
        return describe_changes(changes) if isinstance(changes, dict) else "-"

    def _environment_values(self, layer: manifest.Layer) -> dict[str, str]:
        path = environment_file(self.env)
        values: dict[str, str] = {}
        if path is not None:
            for key, value in (yaml.safe_load(path.read_text()) or {}).items():
                if key != "aws:region" and value is not None:
                    values[key if ":" in key else f"{layer.project}:{key}"] = to_config_string(value)
        # decommission comes from the environment file alone and is written on every run (false
        # unless the file says true): a `true` left in a kept Pulumi.<env>.yaml must never deploy a
        # re-created protected environment without its deletion protection.
        values.setdefault(f"{layer.project}:decommission", "false")
        return values

    def _holds_own_settings(self, layer: manifest.Layer) -> bool:
        """Whether the stack file has settings the tasks did not write (a team's committed config)."""
        written = {"aws:region", f"{layer.project}:environmentSuffix", *self._environment_values(layer)}
        recorded = preflight.read_stack_file(layer, self.env).get("config") or {}
        return any(key not in written for key in recorded)

    def config_for(self, layer: manifest.Layer) -> dict[str, str]:
        """What ``up``/``preview`` write into the layer's stack config: the region, the suffix (the
        stack name) and the environment file's keys. The environment file is applied on every run
        so all layers agree; for those keys it wins over a value left in a stack file."""
        assert self.region is not None
        return {"aws:region": self.region, f"{layer.project}:environmentSuffix": self.env, **self._environment_values(layer)}

    def _prepare(self, layer: manifest.Layer) -> None:
        """Create or select the layer's stack and write its environment config."""
        args = ["stack", "select", "--create", *self._stack_args(layer)]
        if self.secrets_provider:
            args += ["--secrets-provider", self.secrets_provider]
        result = self._run(args, prefix=layer.name, echo=True)
        if not result.ok:
            raise _StepFailed(layer, "create or select its stack", result)
        values = self.config_for(layer)
        recorded = preflight.read_stack_file(layer, self.env).get("config") or {}
        for key, value in values.items():
            old = recorded.get(key)
            if old is not None and not isinstance(old, dict) and to_config_string(old) != value:
                self.out(
                    f"[{layer.name}] note: {key} was {to_config_string(old)!r} in Pulumi.{self.env}.yaml; the environment sets {value!r}"
                )
        args = ["config", "set-all", *self._stack_args(layer)]
        for key, value in values.items():
            args += ["--plaintext", f"{key}={value}"]
        result = self._run(args, prefix=layer.name, echo=True)
        if not result.ok:
            raise _StepFailed(layer, "set its config (`pulumi config set-all`)", result)

    def _banner(self, layer: manifest.Layer, verb: str) -> None:
        self.out("")
        self.out(f"=== {verb} {layer.name} ({layer.project}, stack {self.env}) ===")

    def _summary(self, title: str, results: Sequence[LayerResult]) -> None:
        rows = [("layer", "result", "resource changes", "duration")]
        rows += [(r.layer, r.result, r.changes, _duration(r.seconds)) for r in results]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        self.out("")
        self.out(title)
        for row in rows:
            self.out("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())

    def _error_text(self, failure: _StepFailed) -> str:
        if failure.detail is not None:
            return "\n".join(f"  {line}" for line in failure.detail.splitlines())
        if failure.result.locked:
            return describe_lock(failure.result, self.backend, failure.layer.directory, self.stack, env=self.env)
        return "\n".join(f"  {line}" for line in failure.result.error_lines())

    # -- deploy --------------------------------------------------------------------------------------

    def _check_fixed(self, layer: manifest.Layer, verb: str) -> None:
        """Refuse an ``up`` that changes a setting the layer fixes once deployed (``Layer.fixed``)
        or steps one by other than 0 or 1 (``Layer.stepped``)."""
        if not (layer.fixed or layer.stepped) or self.stack_entry(layer) is None:
            return
        deployed = self._stack_outputs(layer)
        try:
            values = assemble(layer, self.env).values
        except (ConfigError, PlatformError):
            return  # reported by pre-flight
        for setting, output in layer.stepped:
            wanted, had = values.get(f"{layer.project}:{setting}"), deployed.get(output)
            try:
                step = int(str(wanted)) - int(str(had))
            except ValueError:
                continue  # not deployed with it yet, or a bad value pre-flight reports
            if step not in (0, 1):
                self._refuse_change(
                    layer,
                    verb,
                    f"{layer.project}:{setting} is {wanted} but {layer.name} of {self.env} was deployed with {had}: it may "
                    "only stay or grow by exactly 1 (another step replaces both values the web ACL accepts at once, and "
                    "requests are refused until CloudFront has deployed the new one).",
                    f"Set it to {int(str(had)) + 1} in stacks/{layer.name}/Pulumi.{self.env}.yaml (one rotation), deploy, "
                    "and step again if you need more.",
                )
        for setting, output in layer.fixed:
            wanted, had = values.get(f"{layer.project}:{setting}"), deployed.get(output)
            # Nothing deployed for it yet (an empty or zero output: payments' port without payments).
            if wanted is None or had in (None, "", 0) or str(wanted).strip() == str(had).strip():
                continue
            self._refuse_change(
                layer,
                verb,
                f"{layer.project}:{setting} is {wanted!r} but {layer.name} of {self.env} was deployed with {had!r}: it is "
                "fixed once deployed (a change makes Pulumi replace what cannot be replaced in place: the VPC every layer "
                "is built in, or target groups whose fixed names refuse a second one).",
                f"Set it back to {had!r} in stacks/{layer.name}/Pulumi.{self.env}.yaml, or build another environment with "
                f"the new value ({self._next('up-all')} with another --env) and destroy this one.",
            )

    def _refuse_change(self, layer: manifest.Layer, verb: str, what: str, fix: str) -> None:
        """An ``up`` is refused with ``what`` and ``fix``; a preview only notes it."""
        if verb != "up":
            self.out(f"[{layer.name}] note: {what} An up would be refused.")
            return
        raise DeployError(f"cannot deploy {layer.name} of {self.env}: {what}\n{fix}", code=2)

    def _refuse_decommissioning_a_new_environment(self) -> None:
        """``decommission: true`` lifts deletion protection: it is for tearing down a deployed
        environment. Left in the file when the name is used again, it would create a brand-new
        protected environment without deletion protection (and the checks waive it)."""
        if str(environment_values(self.env).get("decommission", "")).lower() != "true":
            return
        try:
            deployed = any(self._deployed(layer) for layer in self.layers)
        except _StepFailed as failure:
            raise DeployError(f"could not read the stacks of {failure.layer.name}:\n{self._error_text(failure)}") from None
        if not deployed:
            raise DeployError(
                f"refusing to create {self.env} with `decommission: true` (environments/{self.env}.yaml): no layer of it "
                "is deployed, and decommission lifts deletion protection for a teardown. A new environment would come up "
                f"protected in name only. Remove `decommission` from environments/{self.env}.yaml to create it.",
                code=2,
            )

    def _check_all_fixed(self, layers: Sequence[manifest.Layer], verb: str) -> None:
        """Before anything is deployed: no layer changes a setting it fixes once deployed."""
        try:
            for layer in layers:
                self._check_fixed(layer, verb)
        except _StepFailed as failure:
            raise DeployError(
                f"{verb} {self.env}: could not {failure.step} of layer {failure.layer.name}.\n{self._error_text(failure)}"
            ) from None

    def _up_one(self, layer: manifest.Layer, verb: str = "up") -> LayerResult:
        """Prepare and ``pulumi up`` (or ``preview``) one layer; raises _StepFailed/Interrupted."""
        started = time.monotonic()
        self._prepare(layer)
        mark = self._history_mark(layer)
        if verb == "up":
            args = [
                "up",
                *self._stack_args(layer),
                "--yes",
                *(["--skip-preview"] if self.skip_preview else []),
                *self._policy_args(),
            ]
        else:
            args = ["preview", *self._stack_args(layer), *self._policy_args()]
        result = self._run(args, prefix=layer.name, echo=True)
        if not result.ok:
            failure = _StepFailed(layer, "deploy it (`pulumi up`)" if verb == "up" else "preview it (`pulumi preview`)", result)
            failure.changes = self._changes(layer, mark) if verb == "up" else "-"
            raise failure
        if verb == "preview":
            return LayerResult(layer.name, "previewed", "-", time.monotonic() - started)
        changes = self._changes(layer, mark)
        # Health gate: a layer that runs a service is deployed only once the service serves, so
        # no layer after it (edge) deploys in front of tasks that never started.
        if self.health_check and health.runs_service(layer.name):
            self._health_gate(layer, changes)
            return LayerResult(layer.name, "deployed, healthy", changes, time.monotonic() - started)
        return LayerResult(layer.name, "deployed", changes, time.monotonic() - started)

    def _clients(self) -> Callable[[str], Any]:
        """boto3 clients for the environment's region, with the credentials pre-flight checked."""
        import boto3

        session = boto3.session.Session(region_name=self.region)
        return lambda service: session.client(service)

    def _stack_outputs(self, layer: manifest.Layer) -> dict[str, Any]:
        result = self._run(["stack", "output", "--json", *self._stack_args(layer)])
        if not result.ok:
            raise _StepFailed(layer, "read its outputs (`pulumi stack output --json`)", result)
        try:
            data = json.loads(result.stdout or "{}")
        except json.JSONDecodeError:
            raise _StepFailed(layer, "parse `pulumi stack output --json`", result) from None
        return data if isinstance(data, dict) else {}

    def _health_gate(self, layer: manifest.Layer, changes: str) -> None:
        """Wait until the layer's service is steady and its targets healthy (health.py)."""
        from botocore.exceptions import BotoCoreError, ClientError

        step = f"bring its service up healthy (waited at most {self.health_timeout:g} s; --health-timeout)"
        outputs_ = self._stack_outputs(layer)
        self.out(f"[{layer.name}] health gate: waiting for the ECS service to be steady and its targets healthy")
        try:
            target = health.ServiceTarget.from_outputs(layer.name, outputs_)
            snap = health.wait_healthy(target, self._clients(), timeout=self.health_timeout, sleep=self._pause, out=self.out)
        except health.HealthError as exc:
            failure = _StepFailed(layer, step, Result(["health"], 1, ""), detail=str(exc))
        except (ClientError, BotoCoreError) as exc:
            failure = _StepFailed(layer, step, Result(["health"], 1, ""), detail=f"{layer.name}: could not ask ECS/ELB ({exc})")
        else:
            self.out(f"[{layer.name}] health gate passed: {snap.progress(target.target_group_arn is not None)}")
            return
        failure.changes = changes
        raise failure

    # -- idempotence -------------------------------------------------------------------------------

    def _idempotence_problem(self, layer: manifest.Layer) -> str | None:
        """None when ``pulumi preview --expect-no-changes`` finds nothing to do, else the diff."""
        result = self._run(["preview", *self._stack_args(layer), "--expect-no-changes", "--diff"], prefix=layer.name, echo=True)
        if result.ok:
            return None
        if result.code != _EXIT_NO_CHANGES and not _NO_CHANGES_EXPECTED.search(result.text):
            raise _StepFailed(layer, "preview it (`pulumi preview --expect-no-changes`)", result)
        diff = [line.rstrip() for line in result.text.splitlines() if _DIFF_LINE.match(line)]
        shown = "\n".join(f"    {line}" for line in diff[:40]) or "    (the preview printed no diff lines; run it with --diff)"
        return f"{layer.name}: a preview right after up proposes changes (a perpetual diff):\n{shown}"

    def _verify_idempotent(self, layers: Sequence[manifest.Layer]) -> list[str]:
        problems = []
        for layer in layers:
            self._banner(layer, "idempotence check")
            problem = self._idempotence_problem(layer)
            if problem:
                problems.append(problem)
        return problems

    def _idempotence_error(self, problems: Sequence[str]) -> DeployError:
        return DeployError(
            f"not idempotent: {len(problems)} layer(s) of {self.env} would change again with nothing changed:\n"
            + "\n".join(problems)
            + "\nA perpetual diff is a bug in the layer's program (an input AWS normalises, an order that "
            "differs, a value computed on every run): make the program declare what AWS stores.",
        )

    def idempotence(self) -> list[str]:
        """Preview every deployed layer with --expect-no-changes; fail naming each layer that would change."""
        self._preflight(layers=self.layers, need_region=True)
        try:
            deployed = [layer for layer in self.layers if self._deployed(layer)]
            if not deployed:
                raise DeployError(
                    f"no layer of {self.env} is deployed: nothing to check. Deploy with {self._next('up-all')}.", code=2
                )
            problems = self._verify_idempotent(deployed)
        except _StepFailed as failure:
            raise DeployError(
                f"idempotence check of {self.env}: could not {failure.step} of layer {failure.layer.name}.\n{self._error_text(failure)}"
            ) from None
        if problems:
            raise self._idempotence_error(problems)
        self.out(f"idempotence {self.env}: {', '.join(lyr.name for lyr in deployed)} show no changes")
        return [layer.name for layer in deployed]

    def up_all(self) -> list[LayerResult]:
        """Deploy every selected layer, each as soon as the layers it reads are deployed (up to
        ``parallel`` at once); after a failure no new layer starts and running ones finish."""
        self._preflight(layers=self.layers, settings_layers=self.layers, need_region=True, account_checks=True)
        self._refuse_decommissioning_a_new_environment()
        self._check_all_fixed(self.layers, "up")
        names = {layer.name for layer in self.layers}
        waits = {layer.name: {r for r in layer.reads if r in names} for layer in self.layers}

        def step(layer: manifest.Layer) -> LayerResult:
            self._banner(layer, "up")
            return self._up_one(layer)

        walk = self._walk(self.layers, waits, step, verb="up", stop_on_failure=True)
        results = [walk.results.get(layer.name, LayerResult(layer.name, "not run")) for layer in self.layers]
        if walk.interrupted is not None:
            self._summary(f"up-all {self.env}: interrupted", results)
            raise walk.interrupted
        if walk.failures:
            first = walk.failures[0]
            failed = [f.layer.name for f in walk.failures]
            self._summary(f"up-all {self.env}: stopped at {', '.join(failed)}", results)
            deployed = [r.layer for r in results if r.result.startswith("deployed")]
            never = [r.layer for r in results if r.result == "not run"]
            index = [lyr.name for lyr in self.layers].index(first.layer.name)
            not_after = all(r.result == "not run" for r in results[index + 1 :])
            others = "".join(
                f"Layer {f.layer.name} failed too: could not {f.step}.\n{self._error_text(f)}\n" for f in walk.failures[1:]
            )
            raise DeployError(
                f"up-all stopped at layer {first.layer.name} (stack {self.env}): could not {first.step}.\n"
                f"{self._error_text(first)}\n{others}"
                + (f"Deployed: {', '.join(deployed)}. " if deployed else "")
                + (f"Not started: {', '.join(never)}. " if never else "")
                + ("Nothing after it ran.\n" if not_after else "Layers after it in manifest order ran at the same time.\n")
                + f"Next: fix the cause, then run {self._next('up-all')} again (deployed layers come back unchanged), "
                f"or only this layer: {self._next('up', first.layer)}. To remove what exists: {self._next('down-all')}."
            ) from None
        self._summary(f"up-all {self.env}: every layer deployed", results)
        if self.check_idempotent:
            try:
                problems = self._verify_idempotent(self.layers)
            except _StepFailed as failure:
                raise DeployError(
                    f"up-all {self.env}: every layer deployed, but the idempotence check could not {failure.step} of layer "
                    f"{failure.layer.name}.\n{self._error_text(failure)}"
                ) from None
            if problems:
                raise self._idempotence_error(problems)
            self.out(f"idempotence {self.env}: a second preview of every layer shows no changes")
        return results

    def _walk(
        self,
        layers: Sequence[manifest.Layer],
        waits: Mapping[str, set[str]],
        step: Callable[[manifest.Layer], LayerResult],
        *,
        verb: str,
        stop_on_failure: bool,
    ) -> _Walk:
        """Run ``step`` for every layer once every layer it ``waits`` for has finished.

        Ties start in ``layers`` order, so ``parallel=1`` runs exactly that order in this thread.
        With more, workers run steps (``_up_one`` / ``_destroy``) while this thread keeps the
        signals: Ctrl-C (or SIGTERM) stops new layers from starting and is forwarded once to every
        running CLI, which then cancels cleanly.
        """
        walk = _Walk()
        pending = list(layers)
        finished: set[str] = set()
        limit = self.parallel or len(layers) or 1

        def guarded(layer: manifest.Layer) -> LayerResult:
            try:
                return step(layer)
            except KeyboardInterrupt:
                # Between two Pulumi commands, or in a wait (a retry delay, the health gate).
                raise self._interrupted_between(
                    f"while {'preparing' if verb == 'up' else 'destroying'} layer {layer.name}"
                ) from None

        def record(layer: manifest.Layer, started: float, run: Callable[[], LayerResult]) -> None:
            try:
                walk.results[layer.name] = run()
            except _StepFailed as failure:
                walk.results[layer.name] = LayerResult(layer.name, "failed", failure.changes, time.monotonic() - started)
                walk.failures.append(failure)
            except Interrupted as exc:
                walk.results[layer.name] = LayerResult(layer.name, "interrupted", "-", time.monotonic() - started)
                walk.interrupted = walk.interrupted or exc
            finished.add(layer.name)

        signals_seen = [0]

        def next_ready() -> manifest.Layer | None:
            if signals_seen[0] or walk.interrupted is not None or (stop_on_failure and walk.failures):
                return None
            return next((lyr for lyr in pending if waits[lyr.name] <= finished), None)

        if limit == 1:
            while (layer := next_ready()) is not None:
                pending.remove(layer)
                record(layer, time.monotonic(), functools.partial(guarded, layer))
            return walk

        console = _Console(self.out, live=_live_output(self.environ))
        outer, self.out = self.out, console
        if self.cli is not None:
            self.cli.out = console
        cli.reset_interrupts()

        def on_signal(signum: int, frame: object) -> None:
            signals_seen[0] += 1
            cli.interrupt_running()

        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, on_signal) for sig in cli._InterruptForwarder.SIGNALS}
        told = 0
        try:
            with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="layer") as pool:
                running: dict[Future[None], manifest.Layer] = {}
                while True:
                    if signals_seen[0] > told:
                        # Two Ctrl-Cs may arrive between two turns of this loop: the first is
                        # always reported as the one that asked the engines to cancel.
                        if told == 0:
                            console("interrupted: asked every running Pulumi engine to cancel; waiting for them to stop cleanly")
                        if signals_seen[0] > 1:
                            console(
                                "still waiting for the Pulumi engines to finish cancelling (do not kill them: that leaves stacks locked)"
                            )
                        told = signals_seen[0]
                    while len(running) < limit and (layer := next_ready()) is not None:
                        pending.remove(layer)
                        console.start(layer.name)
                        running[pool.submit(record, layer, time.monotonic(), functools.partial(guarded, layer))] = layer
                    if not running:
                        break
                    done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in done:
                        layer = running.pop(future)
                        future.result()
                        result = walk.results.get(layer.name)
                        console.finish(layer.name, result.result if result else "?")
                    console.refresh()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            console.close()
            self.out = outer
            if self.cli is not None:
                self.cli.out = outer
        if signals_seen[0] and walk.interrupted is None:
            # Ctrl-C arrived while no CLI ran (between a layer's commands): nothing was cancelled.
            walk.interrupted = self._interrupted_between(f"during {verb}-all")
        return walk

    def _require_upstreams(self, layer: manifest.Layer, action: str) -> None:
        missing = [name for name in layer.reads if not self._deployed(self.layer(name))]
        if missing:
            names = ", ".join(missing)
            raise DeployError(
                f"cannot {action} {layer.name} of {self.env} yet: it reads {names} through StackReferences, and "
                f"{'their stacks' if len(missing) > 1 else 'its stack'} of {self.env} {'do' if len(missing) > 1 else 'does'} not exist "
                f"or {'hold' if len(missing) > 1 else 'holds'} nothing yet.\n"
                f"Deploy {'them' if len(missing) > 1 else 'it'} first ({self._next('up', self.layer(missing[0]))}, or everything: {self._next('up-all')}), "
                f"or see the whole environment without AWS: `invoke plan --env {self.env}` (the offline plan).",
                code=2,
            )

    def _single(self, layer_name: str, verb: str) -> LayerResult:
        layer = self.layer(layer_name)
        # Region and secrets are checked across all layers: the environment shares them.
        self._preflight(layers=self.layers, settings_layers=[layer], need_region=True, account_checks=verb == "up")
        if verb == "up":
            self._refuse_decommissioning_a_new_environment()
        self._check_all_fixed([layer], verb)
        try:
            self._require_upstreams(layer, "deploy" if verb == "up" else "preview")
            self._banner(layer, verb)
            result = self._up_one(layer, verb)
        except _StepFailed as failure:
            raise DeployError(
                f"{verb} of layer {layer.name} (stack {self.env}) failed: could not {failure.step}.\n"
                f"{self._error_text(failure)}\nNext: fix the cause and run {self._next(verb, layer)} again."
            ) from None
        self._summary(f"{verb} {layer.name} {self.env}:", [result])
        return result

    def up(self, layer_name: str) -> LayerResult:
        """Deploy one layer (its upstream layers must be deployed)."""
        return self._single(layer_name, "up")

    def preview(self, layer_name: str) -> LayerResult:
        """Preview one layer against AWS (its upstream layers must be deployed)."""
        return self._single(layer_name, "preview")

    def refresh(self, layer_name: str) -> LayerResult:
        layer = self.layer(layer_name)
        self._preflight(layers=self.layers)
        try:
            if self.stack_entry(layer) is None:
                raise DeployError(
                    f"layer {layer.name} has no stack {self.env}: nothing to refresh. Deploy it with {self._next('up', layer)}.",
                    code=2,
                )
            self._banner(layer, "refresh")
            started = time.monotonic()
            mark = self._history_mark(layer)
            result = self._run(["refresh", *self._stack_args(layer), "--yes", "--skip-preview"], prefix=layer.name, echo=True)
            if not result.ok:
                raise _StepFailed(layer, "refresh it (`pulumi refresh`)", result)
        except _StepFailed as failure:
            raise DeployError(
                f"refresh of layer {layer.name} (stack {self.env}) failed: could not {failure.step}.\n{self._error_text(failure)}"
            ) from None
        outcome = LayerResult(layer.name, "refreshed", self._changes(layer, mark), time.monotonic() - started)
        self._summary(f"refresh {layer.name} {self.env}:", [outcome])
        return outcome

    # -- destroy -------------------------------------------------------------------------------------

    def _pending_creates(self, layer: manifest.Layer) -> list[str]:
        """URNs of the creates a killed run left pending in the stack's state (`pulumi stack
        export`); [] when there are none or the state cannot be read (the destroy then says why)."""
        result = self._run(["stack", "export", *self._stack_args(layer)])
        try:
            state = json.loads(result.stdout) if result.ok else {}
        except json.JSONDecodeError:
            return []
        operations = ((state or {}).get("deployment") or {}).get("pending_operations") or []
        return [
            str((op.get("resource") or {}).get("urn", "?"))
            for op in operations
            if isinstance(op, dict) and op.get("type") == "creating"
        ]

    def _destroy(self, layer: manifest.Layer) -> tuple[LayerResult, str | None]:
        """Destroy with retries, then remove the emptied stack. Returns (result, what is left)."""
        started = time.monotonic()
        pending = self._pending_creates(layer)
        if pending:
            # A destroy ignores them and `stack rm` would forget them: whatever they created in AWS
            # would keep running (and the next environment of this name would collide with it).
            cwd = f"stacks/{layer.name}"
            return LayerResult(layer.name, "failed", "-", time.monotonic() - started), (
                f"{layer.name}: not destroyed: its state records {len(pending)} create(s) a killed run left unfinished, "
                "which Pulumi neither destroys nor remembers after `stack rm`:\n"
                + "\n".join(f"      {urn}" for urn in pending)
                + "\n    Find each in AWS (its name ends in -"
                + self.env
                + "). Delete what exists and run "
                f"`pulumi refresh --clear-pending-creates --yes --stack {self.stack} --cwd {cwd}`, or adopt it with "
                f"`pulumi refresh --import-pending-creates <urn> <id> --stack {self.stack} --cwd {cwd}`; then run the task again."
            )
        mark = self._history_mark(layer)
        result: Result | None = None
        permanent: str | None = None
        tried = 0
        for attempt in range(1, self.attempts + 1):
            tried = attempt
            result = self._run(["destroy", *self._stack_args(layer), "--yes", "--skip-preview"], prefix=layer.name, echo=True)
            if result.ok or result.locked:
                break
            permanent = cli.permanent_failure(result, stack=self.stack, layer_dir=layer.directory, env=self.env)
            if permanent:
                self.out(f"[{layer.name}] destroy failed and will not be retried: {permanent}")
                break
            if attempt < self.attempts:
                delay = self.retry_delay_after(attempt)
                self.out(
                    f"[{layer.name}] destroy failed (attempt {attempt} of {self.attempts}): {result.error_lines()[0]}\n"
                    f"[{layer.name}] AWS can take minutes to release network interfaces and Lambda/ENI attachments; retrying in {delay:g}s"
                )
                try:
                    self._pause(delay)
                except KeyboardInterrupt:
                    raise self._interrupted_between(f"while waiting to retry the destroy of layer {layer.name}") from None
        assert result is not None
        seconds = time.monotonic() - started
        if not result.ok:
            errors = "\n".join(f"      {lyr}" for lyr in result.error_lines())
            if result.locked:
                why = describe_lock(result, self.backend, layer.directory, self.stack, env=self.env)
            elif permanent:
                why = f"destroy failed ({tried} attempt(s)): {permanent}\n{errors}"
            else:
                why = f"destroy failed after {tried} attempt(s):\n{errors}"
            return LayerResult(layer.name, "failed", self._changes(layer, mark), seconds), f"{layer.name}: {why}"
        changes = self._changes(layer, mark)
        if self.keep_stacks:
            return LayerResult(layer.name, "destroyed (stack kept)", changes, seconds), None
        # `stack rm` deletes Pulumi.<env>.yaml too; keep it when it holds settings of the team's own.
        keep_file = ["--preserve-config"] if self._holds_own_settings(layer) else []
        removed = self._run(
            ["stack", "rm", self.stack, "--yes", *keep_file, "--cwd", str(layer.directory), "--non-interactive"],
            prefix=layer.name,
            echo=True,
        )
        seconds = time.monotonic() - started
        if not removed.ok:
            lines = "; ".join(removed.error_lines(3))
            return LayerResult(layer.name, "destroyed, stack not removed", changes, seconds), (
                f"{layer.name}: its resources are destroyed but `pulumi stack rm` failed ({lines}); the empty stack {self.env} remains"
            )
        return LayerResult(layer.name, "destroyed", changes, seconds), None

    def _protected_without_decommission(self, alive: Sequence[manifest.Layer]) -> str | None:
        """Why destroying ``alive`` would hit a protected environment not deployed decommissioning,
        or None. The deployed state decides: the outputs of a layer that exports ``protected``
        (data), else what the last run wrote into the stack files. Pulumi deletes the dependents of
        a protected resource before it reaches it: without this check `down-all` of a protected
        environment destroyed its CloudFront, DNS, services and listeners before Aurora refused."""
        for layer in alive:
            try:
                outputs_ = self._stack_outputs(layer)
            except _StepFailed:
                continue  # unreadable (a wrong passphrase): the destroy says why, with the fix
            if "protected" in outputs_:
                if outputs_.get("protected") is True and outputs_.get("decommissioning") is not True:
                    return f"{layer.name}'s stack says it was deployed protected, not decommissioning"
                return None
        for layer in alive:
            recorded = preflight.read_stack_file(layer, self.env).get("config") or {}
            protect = str(recorded.get(f"{layer.project}:protect", "")).lower() == "true"
            decommission = str(recorded.get(f"{layer.project}:decommission", "")).lower() == "true"
            if protect and not decommission:
                return f"stacks/{layer.name}/Pulumi.{self.env}.yaml says {layer.name} was deployed protected, not decommissioning"
        return None

    def _refuse_protected(self, alive: Sequence[manifest.Layer], what: str) -> None:
        why = self._protected_without_decommission(alive)
        if why:
            raise DeployError(
                f"refusing to {what} {self.env}: it is a protected environment ({why}). A destroy would delete "
                "everything that depends on the protected resources (CloudFront, DNS, services, listeners) before "
                "Aurora, DynamoDB and the load balancers refuse.\n"
                f"To tear it down on purpose: set `decommission: true` in environments/{self.env}.yaml, deploy that "
                f"({self._next('up-all')}: deletion protection lifted, final snapshot, backups and data key kept), then "
                f"run {self._next('down-all')} (docs/decommissioning.md).",
                code=2,
            )

    def down_all(self) -> list[LayerResult]:
        """Destroy every layer in reverse order; skip missing stacks; retry; report what is left."""
        self._preflight(layers=self.layers)
        try:
            alive = {layer.name: self.stack_entry(layer) is not None for layer in self.all_layers}
        except _StepFailed as failure:
            raise DeployError(
                f"down-all could not list the stacks of {failure.layer.name}:\n{self._error_text(failure)}"
            ) from None
        if not any(alive.values()):
            self.out(f"No stack of environment {self.env} exists in {self.backend.url}: nothing to destroy.")
            if not self.backend.chosen_by_user:
                # The default backend is this checkout's own directory: a deploy made from CI or
                # another clone keeps its state elsewhere, and this run cannot see (or destroy) it.
                self.out(
                    "warning: that is this checkout's default state directory. If the environment was deployed "
                    "from CI or another clone, set PULUMI_BACKEND_URL to the backend that deploy used and run "
                    "down-all again: stacks in another backend are not seen here, and their resources keep running."
                )
        self._refuse_protected([lyr for lyr in self.all_layers if alive[lyr.name]], "destroy")
        unselected = [lyr.name for lyr in self.all_layers if alive[lyr.name] and lyr not in self.layers]
        if unselected:
            self.out(
                f"note: {', '.join(unselected)} {'are' if len(unselected) > 1 else 'is'} not selected by environments/{self.env}.yaml "
                f"but {'have stacks' if len(unselected) > 1 else 'has a stack'} of {self.env}: destroying "
                f"{'them' if len(unselected) > 1 else 'it'} too (down-all removes every layer that has a stack)."
            )
        left: list[str] = []
        everything = tuple(self.all_layers)
        # Reverse graph order: a layer waits until every layer that reads it has finished.
        waits = {lyr.name: {d.name for d in manifest.dependents(lyr.name, everything)} for lyr in everything}

        def step(layer: manifest.Layer) -> LayerResult:
            if not alive[layer.name]:
                return LayerResult(layer.name, "no stack (skipped)")
            holders = [d.name for d in manifest.dependents(layer.name, everything) if alive[d.name]]
            if holders:
                left.append(
                    f"{layer.name}: not destroyed, because {', '.join(holders)} still read(s) it and could not be destroyed"
                )
                return LayerResult(layer.name, "kept")
            self._banner(layer, "destroy")
            outcome, problem = self._destroy(layer)
            if outcome.result.startswith("destroyed"):
                alive[layer.name] = False
            if problem:
                left.append(problem)
            return outcome

        walk = self._walk(list(reversed(everything)), waits, step, verb="destroy", stop_on_failure=False)
        results = walk.results
        if walk.interrupted is not None:
            self._summary(
                f"down-all {self.env}: interrupted",
                [results.get(lyr.name, LayerResult(lyr.name, "not run")) for lyr in reversed(everything)],
            )
            raise walk.interrupted
        ordered = [results[layer.name] for layer in reversed(everything)]
        if left:
            self._summary(f"down-all {self.env}: something is left", ordered)
            raise DeployError(
                f"down-all {self.env} left something behind:\n"
                + "\n".join("  - " + item.replace("\n", "\n    ") for item in left)
                + f"\nNext: run {self._next('down-all')} again later (it skips what is gone; raise --attempts/--retry-delay for slow ENI release), "
                "or inspect the failing layer with `pulumi stack --cwd stacks/<layer> --stack " + self.stack + "`."
            )
        self._summary(f"down-all {self.env}: nothing left", ordered)
        return ordered

    def down(self, layer_name: str, *, force: bool = False) -> LayerResult | None:
        """Destroy one layer; refuses while a layer that reads it still has a stack, unless ``force``."""
        layer = self.layer(layer_name)
        dependents = self._dependents(layer)
        self._preflight(layers=self.layers)
        try:
            if self.stack_entry(layer) is None:
                self.out(f"[{layer.name}] no stack {self.env}: nothing to destroy.")
                return None
            holders = [d.name for d in dependents if self.stack_entry(d) is not None]
            alive = [lyr for lyr in self.all_layers if lyr is layer or self.stack_entry(lyr) is not None]
        except _StepFailed as failure:
            raise DeployError(f"down could not list the stacks of {failure.layer.name}:\n{self._error_text(failure)}") from None
        self._refuse_protected(alive, f"destroy {layer.name} of")
        if holders and not force:
            first = next(d for d in dependents if d.name == holders[0])
            # A holder the environment no longer selects can only go with down-all (or once re-selected).
            how = (
                self._next("down", first)
                if first in self.layers
                else f"{self._next('down-all')}; {self.env} no longer selects {first.name}"
            )
            raise DeployError(
                f"refusing to destroy {layer.name} of {self.env}: {', '.join(holders)} read(s) it and still "
                f"{'have stacks' if len(holders) > 1 else 'has a stack'} of {self.env}.\n"
                f"Destroy {'them' if len(holders) > 1 else 'it'} first ({how}), or everything with "
                f"{self._next('down-all')}; --force destroys {layer.name} anyway (layers that read it then fail on their next update or refresh until it is back).",
                code=2,
            )
        self._banner(layer, "destroy")
        outcome, problem = self._destroy(layer)
        self._summary(f"down {layer.name} {self.env}:", [outcome])
        if problem:
            raise DeployError(
                f"down {layer.name} {self.env} left something behind:\n  - {problem}\nNext: run {self._next('down', layer)} again later."
            )
        return outcome

    # -- outputs -------------------------------------------------------------------------------------

    def write_outputs(self, path: Path | None = None) -> outputs.Flat:
        """Every layer's outputs (secrets shown as "[secret]") flattened into one JSON file."""
        target = Path(path) if path else outputs.DEFAULT_PATH
        self._preflight(layers=self.layers, need_aws=False)
        by_layer: dict[str, dict[str, Any]] = {}
        try:
            for layer in self.layers:
                if self.stack_entry(layer) is None:
                    self.out(f"[{layer.name}] no stack {self.env}: no outputs")
                    continue
                result = self._run(["stack", "output", "--json", *self._stack_args(layer)])
                if not result.ok:
                    raise _StepFailed(layer, "read its outputs (`pulumi stack output --json`)", result)
                try:
                    data = json.loads(result.stdout or "{}")
                except json.JSONDecodeError:
                    raise _StepFailed(layer, "parse `pulumi stack output --json`", result) from None
                by_layer[layer.name] = data if isinstance(data, dict) else {}
        except _StepFailed as failure:
            raise DeployError(
                f"outputs: could not {failure.step} of layer {failure.layer.name}:\n{self._error_text(failure)}"
            ) from None
        if not by_layer:
            raise DeployError(
                f"no stack of environment {self.env} exists: nothing to write. Deploy it with {self._next('up-all')}.", code=2
            )
        flat = outputs.flatten(by_layer)
        outputs.write(target, flat)
        for name, keys in sorted(flat.ambiguous.items()):
            self.out(f"note: layers export {name} with different values; only {', '.join(keys)} are written")
        count = sum(len(v) for v in by_layer.values())
        self.out(f"Wrote {count} outputs of {', '.join(by_layer)} to {target}")
        return flat
