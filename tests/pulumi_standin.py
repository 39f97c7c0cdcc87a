"""A recording stand-in for the ``pulumi`` executable, used by tests/test_deploy.py.

The tests put a launcher for it at ``<tmp>/bin/pulumi`` (``Standin`` in tests/test_deploy.py) and
that directory first on PATH. Every invocation appends one JSON line to ``$FAKE_PULUMI_LOG``:
``{"argv": [...], "cwd": ..., "project": ..., "command": ..., "env": {selected variables}}``.

Its logic is :func:`run`, which takes everything a process would read from its own (argv,
environment, working directory, output streams, the SIGINTs it receives), so a call can run as a
process (the launcher: :func:`script`) or in a thread of the test's own process
(tests/standin_inproc.py, what most deploy tests use: the same calls without a Python start-up each).

A task runs the CLI dozens of times, and interpreter start-up used to cost far more than what the
stand-in does: the launcher runs the test interpreter without ``site`` (``-SEB``) with only this
directory and the one that holds ``yaml`` on ``sys.path``, and bytecode goes to ``<tmp>/pycache``
(this module and ``yaml`` are compiled once per test, not at every call). ``yaml`` is imported only
by the commands that read a YAML file or write a stack file.

It behaves like the real CLI where the deploy tasks depend on it, so a task that drops a flag or
a variable fails here as it would for a user:

* flags are checked against each command's real flag set (unknown flag: exit 255, as cobra does);
* ``up``/``destroy``/``refresh`` without ``--yes``/``--skip-preview``, and ``stack rm`` without
  ``--yes``, fail with the CLI's non-interactive-mode error (stdin is never a terminal here);
* stacks keep their config in ``<cwd>/Pulumi.<stack>.yaml`` as the CLI does: ``stack select
  --create`` writes ``encryptionsalt`` (passphrase) or ``secretsprovider``/``encryptedkey`` (a KMS
  URL; nothing on an ``https://`` backend), ``config set-all`` writes ``config:``, ``stack rm``
  deletes the file unless ``--preserve-config``;
* the secrets manager: from the stack file, else (only with
  ``PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true``) from the state, else the backend's default (a
  passphrase on a self-managed backend). A passphrase must be in ``PULUMI_CONFIG_PASSPHRASE`` or
  ``PULUMI_CONFIG_PASSPHRASE_FILE`` and be the one the stack was created with;
* ``stack ls --json`` leaves ``resourceCount`` out for a stack that was never updated;
* on Pulumi Cloud (an ``https://`` backend) stacks belong to organizations: ``--stack org/name``
  names one, a bare name means the default one (``default_org``, "me"); ``stack ls`` shows names
  relative to it and ``--organization`` lists one organization.

Stacks live in the JSON file ``$FAKE_PULUMI_STATE``, which the tests also use to inject behaviour:

* ``version``: what ``pulumi version`` prints (default v3.150.0);
* ``outputs``: ``{project: {name: value}}`` a successful ``up`` exports; a value
  ``{"secret": x}`` is a secret output;
* ``fail``: ``{"<command> <project>": {"times": n, "message": text}}`` makes that command fail n
  times (-1: always), printing ``error: <text>`` (``<command>`` is the last word: up, destroy, rm...);
  with ``"leaves": n`` a failed ``up`` of a stack with no resources leaves n in state (1: only the
  root ``pulumi:pulumi:Stack``, as a first ``up`` that failed early) and records a failed update;
* ``drift``: ``{project: ["<diff line>", ...]}`` changes every ``preview`` of that project
  proposes (a perpetual diff): printed, and with ``--expect-no-changes`` the preview fails as the
  CLI does ("no changes were expected but changes were proposed", exit code 255); ``drift_exit``
  ``{"code": n, "message": text}`` answers as another CLI version does (newer ones exit 7);
* ``locked``: ``["<project>/<stack>", ...]`` stacks whose up/refresh/destroy report a lock; an
  optional ``lock_holder`` ``"user@host (pid N)"`` names who holds it;
* ``hang``: ``"<command> <project>"`` waits for SIGINT, counts each one in ``<state>.sigint``,
  then cancels like the engine does: for 1.5 s, during which further SIGINTs are counted; with
  ``cancel_until``: ``"<path>"`` until that file exists (at most 30 s), so a test that sends a
  second Ctrl-C ends the cancel once it knows that Ctrl-C has been handled, not after a fixed wait;
* ``echo_secrets``: print the passphrase during ``up`` (to prove the caller scrubs it);
* ``delay``: ``{"<command>": seconds}`` (or ``"<command> <project>"``) makes that command (last word: up, destroy, ...) take that
  long before it touches state, so parallel runs overlap observably;
* ``wait_for``: ``{"<command> <project>": ["started"|"ended", "<command> <project>", seconds, then]}``
  holds the first command (after its start is recorded, before it touches state) until the second
  has started (or ended), at most that many seconds, then ``then`` seconds more (optional): two
  commands that each wait for the other to start can both finish only if they run at the same
  time; a command that waits for another to end is still running when that one ends (``then``:
  long enough for the caller to have taken in that end). A wait that runs out goes on and says so
  on stderr.

Every invocation appends ``{"command", "project", "start"}`` to ``$FAKE_PULUMI_LOG.starts`` as it
starts and ``{"command", "project", "start", "end"}`` (wall-clock seconds) to
``$FAKE_PULUMI_LOG.times`` as it ends. Concurrent invocations (a parallel up-all) are safe: the
state is read and written under an exclusive lock, and the ``delay``/``wait_for``/``hang`` waits
happen outside it.
"""

import fcntl
import json
import os
import signal
import sys
import time
from pathlib import Path

RECORDED_ENV = (
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_CONFIG_PASSPHRASE_FILE",
    "PULUMI_SKIP_UPDATE_CHECK",
    "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER",
)
LOCKING = {"up", "destroy", "refresh"}
SECRETS = {"up", "preview", "refresh", "destroy", "set-all", "output"}

# Flags of the real CLI (pulumi <command> --help): name -> takes a value. Short forms map to long.
GLOBAL_FLAGS = {
    "--cwd": True,
    "-C": True,
    "--non-interactive": False,
    "--color": True,
    "--emoji": False,
    "-e": False,
    "--logtostderr": False,
    "--verbose": True,
    "-v": True,
    "--disable-integrity-checking": False,
    "--fully-qualify-stack-names": False,
    "-Q": False,
    "--logflow": False,
    "--profiling": True,
    "--tracing": True,
    "--memprofilerate": True,
}
STACK = {"--stack": True, "-s": True}
COMMAND_FLAGS = {
    "version": {},
    "stack select": {**STACK, "--create": False, "-c": False, "--secrets-provider": True},
    "stack ls": {
        "--json": False,
        "-j": False,
        "--all": False,
        "-a": False,
        "--organization": True,
        "-o": True,
        "--project": True,
        "-p": True,
        "--tag": True,
        "-t": True,
    },
    "stack rm": {
        **STACK,
        "--force": False,
        "-f": False,
        "--preserve-config": False,
        "--remove-backups": False,
        "--yes": False,
        "-y": False,
    },
    "stack output": {**STACK, "--json": False, "-j": False, "--shell": False, "--show-secrets": False},
    "stack export": {**STACK, "--file": True, "--show-secrets": False, "--version": True},
    "stack history": {
        **STACK,
        "--json": False,
        "-j": False,
        "--full-dates": False,
        "--page": True,
        "--page-size": True,
        "--show-secrets": False,
    },
    "config set-all": {**STACK, "--json": True, "--path": False, "--plaintext": True, "--secret": True, "--config-file": True},
    "up": {
        **STACK,
        "--yes": False,
        "-y": False,
        "--skip-preview": False,
        "-f": False,
        "--policy-pack": True,
        "--policy-pack-config": True,
        "--refresh": False,
        "-r": False,
        "--diff": False,
        "--message": True,
        "-m": True,
        "--parallel": True,
        "-p": True,
        "--target": True,
        "-t": True,
        "--suppress-outputs": False,
        "--suppress-permalink": False,
        "--expect-no-changes": False,
        "--config": True,
        "-c": True,
        "--config-file": True,
        "--continue-on-error": False,
        "--json": False,
        "-j": False,
    },
    "preview": {
        **STACK,
        "--policy-pack": True,
        "--policy-pack-config": True,
        "--diff": False,
        "--refresh": False,
        "-r": False,
        "--expect-no-changes": False,
        "--json": False,
        "-j": False,
        "--suppress-outputs": False,
        "--target": True,
        "-t": True,
        "--config-file": True,
        "--message": True,
        "-m": True,
    },
    "refresh": {
        **STACK,
        "--yes": False,
        "-y": False,
        "--skip-preview": False,
        "-f": False,
        "--expect-no-changes": False,
        "--clear-pending-creates": False,
        "--diff": False,
        "--json": False,
        "-j": False,
        "--target": True,
        "-t": True,
        "--config-file": True,
        "--preview-only": False,
        "--message": True,
        "-m": True,
    },
    "destroy": {
        **STACK,
        "--yes": False,
        "-y": False,
        "--skip-preview": False,
        "-f": False,
        "--remove": False,
        "--exclude-protected": False,
        "--target": True,
        "-t": True,
        "--continue-on-error": False,
        "--diff": False,
        "--json": False,
        "-j": False,
        "--config-file": True,
        "--refresh": False,
        "-r": False,
        "--preview-only": False,
        "--message": True,
        "-m": True,
    },
}
ALIASES = {
    "-C": "--cwd",
    "-s": "--stack",
    "-c": "--create",
    "-j": "--json",
    "-a": "--all",
    "-f": "--skip-preview",
    "-y": "--yes",
    "-e": "--emoji",
    "-v": "--verbose",
    "-Q": "--fully-qualify-stack-names",
}


class Usage(Exception):
    pass


def parse(argv):
    """(command, positional args, {long flag: [values]}) the way cobra would read argv."""
    words = []
    index = 0
    while index < len(argv) and not argv[index].startswith("-") and len(words) < 2:
        words.append(argv[index])
        index += 1
    command = " ".join(words[:2]) if words[:1] in (["stack"], ["config"]) else (words[0] if words else "")
    if command not in COMMAND_FLAGS:
        raise Usage(f'unknown command {" ".join(words)!r} for "pulumi"')
    positional = words[2:] if " " in command else words[1:]
    known = {**GLOBAL_FLAGS, **COMMAND_FLAGS[command]}
    flags: dict = {}
    while index < len(argv):
        arg = argv[index]
        index += 1
        if not arg.startswith("-"):
            positional.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name not in known:
            raise Usage(f"unknown flag: {name}")
        takes_value = known[name]
        if takes_value and not eq:
            if index >= len(argv):
                raise Usage(f"flag needs an argument: {name}")
            value = argv[index]
            index += 1
        if name == "-f" and command == "stack rm":
            name = "--force"
        elif name == "-c" and command == "up":
            name = "--config"
        else:
            name = ALIASES.get(name, name)
        flags.setdefault(name, []).append(value if (takes_value or eq) else True)
    return command, positional, flags


def load(path):
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def read_yaml(text):
    """``yaml.safe_load(text)``; JSON (which is YAML) without importing ``yaml``, the costliest
    part of a call. The tests' fake layers write their Pulumi.yaml as JSON."""
    try:
        return json.loads(text)
    except ValueError:
        import yaml

        return yaml.safe_load(text)


def project_name(directory):
    return read_yaml((Path(directory) / "Pulumi.yaml").read_text())["name"]


class Interrupts:
    """The SIGINTs one run receives: from the real signal handler (:func:`script`), or from the
    test's in-process ``Popen.send_signal`` (tests/standin_inproc.py). A plain counter, polled: the
    real handler runs on the thread that waits, between two of its bytecodes."""

    def __init__(self, install=None):
        self.count = 0
        self.armed = False
        self._install = install
        self._on_each = None

    def arm(self, on_each):
        """From now on each SIGINT is counted and reported to ``on_each(count)`` (a hanging ``up``);
        before, a real process dies of it (Python's default handler)."""
        self._on_each = on_each
        self.armed = True
        if self._install is not None:
            self._install(lambda signum, frame: self.deliver())

    def deliver(self):
        self.count += 1
        if self._on_each is not None:
            self._on_each(self.count)


class StateLock:
    """The exclusive lock on the state. ``flock`` belongs to an open file description, and every
    run opens the lock file itself: runs exclude each other as processes or as threads of one."""

    def __init__(self, path):
        self._fd = os.open(path, os.O_CREAT | os.O_RDWR)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self):
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class Run:
    """Everything one invocation reads from its process: argv, environment, working directory,
    output streams and the SIGINTs it receives."""

    def __init__(self, argv, environ, cwd, stdout, stderr, interrupts):
        self.argv = list(argv)
        self.environ = environ
        self.cwd = str(cwd)
        self.stdout = stdout
        self.stderr = stderr
        self.interrupts = interrupts

    def path(self, name):
        """``name`` as the process would open it (relative to its working directory)."""
        return Path(self.cwd, name)

    def say(self, text, flush=False):
        print(text, file=self.stdout, flush=flush)


def run(argv, *, environ, cwd, stdout, stderr, interrupts):
    """One ``pulumi <argv>`` call: its exit code. The configured delay comes first (outside the
    lock); the call's times are recorded."""
    return timed_main(Run(argv, environ, cwd, stdout, stderr, interrupts))


def script(argv):
    """The executable's entry (the launcher): this process's environment, directory, streams and signals."""
    interrupts = Interrupts(install=lambda handler: signal.signal(signal.SIGINT, handler))
    return run(argv, environ=os.environ, cwd=os.getcwd(), stdout=sys.stdout, stderr=sys.stderr, interrupts=interrupts)


def timed_main(call):
    started = time.time()
    argv = call.argv
    state_path = call.environ["FAKE_PULUMI_STATE"]
    command = " ".join(argv[:2]) if argv[:1] in (["stack"], ["config"]) else " ".join(argv[:1])
    project = None
    log = call.environ["FAKE_PULUMI_LOG"]
    try:
        if "--cwd" in argv:
            project = project_name(call.path(argv[argv.index("--cwd") + 1]))
        with open(call.path(log + ".starts"), "a") as starts:
            starts.write(json.dumps({"command": command, "project": project, "start": started}) + "\n")
        state = load(call.path(state_path))
        delays = state.get("delay") or {}
        delay = delays.get(f"{command.split(' ')[-1]} {project}", delays.get(command.split(" ")[-1]))
        if delay:
            time.sleep(float(delay))
        awaited = (state.get("wait_for") or {}).get(f"{command.split(' ')[-1]} {project}")
        if awaited:
            wait_for(call, log, *awaited)
    except (OSError, ValueError, IndexError, KeyError, TypeError):
        pass
    lock = StateLock(call.path(state_path + ".lock"))
    try:
        return main(call, lock)
    finally:
        lock.release()
        with open(call.path(log + ".times"), "a") as times:
            times.write(json.dumps({"command": command, "project": project, "start": started, "end": time.time()}) + "\n")


def wait_for(call, log, event, other, seconds, then=0):
    """Until ``other`` ("<command> <project>") has ``event`` ("started"/"ended"), for at most
    ``seconds``; then ``then`` seconds more."""
    path = call.path(log + (".starts" if event == "started" else ".times"))
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            if line.endswith("}"):  # a line being appended is not read half-written
                record = json.loads(line)
                if f"{record['command'].split(' ')[-1]} {record['project']}" == other:
                    time.sleep(float(then))
                    return
        time.sleep(0.005)
    print(f"stand-in: waited {seconds} s for {other} to have {event}; going on", file=call.stderr)


def main(call, lock):
    argv = call.argv
    environ = call.environ
    state_path = call.path(environ["FAKE_PULUMI_STATE"])
    log_path = call.path(environ["FAKE_PULUMI_LOG"])
    state = load(state_path)
    say = call.say

    def save():
        # Atomic: a concurrent invocation reading the delay outside the lock never sees half a
        # file. The name is this run's own (runs may be threads of one process).
        tmp = Path(f"{state_path}.{os.getpid()}.{id(call)}.tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, state_path)

    def fail(message, code=255):
        print(f"error: {message}", file=call.stderr)
        return code

    try:
        command, positional, flags = parse(argv)
    except Usage as exc:
        with open(log_path, "a") as log:
            log.write(json.dumps({"argv": argv, "cwd": call.cwd, "project": None, "command": "?", "env": {}}) + "\n")
        return fail(str(exc))

    def flag(name):
        values = flags.get(name)
        return values[-1] if values else None

    cwd = call.path(flag("--cwd") or call.cwd)
    project = None
    if command != "version":
        project = project_name(cwd)
    with open(log_path, "a") as log:
        log.write(
            json.dumps(
                {
                    "argv": argv,
                    "cwd": call.cwd,
                    "project": project,
                    "command": command,
                    "env": {k: environ.get(k) for k in RECORDED_ENV},
                }
            )
            + "\n"
        )

    if command == "version":
        say(state.get("version", "v3.150.0"))
        return 0

    verb = command.split()[-1]
    yes = bool(flags.get("--yes"))
    if verb in ("up", "destroy", "refresh") and not (yes or flags.get("--skip-preview")):
        return fail("--yes or --skip-preview must be passed in to proceed when running in non-interactive mode")
    if command == "stack rm" and not yes:
        return fail("--yes must be passed in to proceed when running in non-interactive mode")

    stacks = state.setdefault("stacks", {})
    stack = flag("--stack")
    if command in ("stack select", "stack rm") and positional:
        stack = positional[0]
    backend = environ.get("PULUMI_BACKEND_URL", "")
    self_managed = not backend.startswith("https://")
    # Pulumi Cloud: "<org>/<stack>" (or "<org>/<project>/<stack>") names the organization; a bare
    # name is the user's default organization's (``default_org``, "me"). The stack file is
    # Pulumi.<stack>.yaml either way. Self-managed backends have one organization.
    default_org = state.get("default_org", "me")
    org, name = (None, stack)
    if not self_managed and stack:
        parts = stack.split("/")
        org, name = (parts[0], parts[-1]) if len(parts) > 1 else (default_org, stack)
    key = f"{project}/{stack}" if self_managed else f"{project}/{org}/{name}"

    def history_entry(record, kind, result, changes):
        # As the real backends record it: Pulumi Cloud numbers its updates 1, 2, 3...; a
        # self-managed backend records no version (every entry says 0). Times are the real
        # ones (in seconds) with the fraction kept: the stand-in's updates take milliseconds.
        return {
            "version": 0 if self_managed else len(record["history"]) + 1,
            "kind": kind,
            "startTime": time.time(),
            "endTime": time.time(),
            "result": result,
            "resourceChanges": changes,
        }

    stack_file = cwd / f"Pulumi.{name}.yaml"

    def read_stack_file():
        if not stack_file.exists():
            return {}
        return read_yaml(stack_file.read_text()) or {}

    def write_stack_file(data):
        import yaml

        stack_file.write_text(yaml.safe_dump(data, sort_keys=False))

    def passphrase():
        if "PULUMI_CONFIG_PASSPHRASE" in environ:
            return environ["PULUMI_CONFIG_PASSPHRASE"]
        path = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        if path and call.path(path).is_file():
            return call.path(path).read_text().strip()
        return None

    def digest(value):
        import hashlib  # only the commands that check a passphrase need it

        return hashlib.sha256(value.encode()).hexdigest()

    def secrets_manager(record):
        """The provider this command would use for ``record`` ({} for a new stack), as the CLI picks it."""
        data = read_stack_file()
        if data.get("secretsprovider"):
            return data["secretsprovider"]
        if data.get("encryptionsalt"):
            return "passphrase"
        if environ.get("PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER") == "true" and record.get("secretsProvider"):
            return record["secretsProvider"]
        return "passphrase" if self_managed else "service"

    def check_secrets(record):
        provider = secrets_manager(record)
        if provider != "passphrase":
            return None
        given = passphrase()
        if given is None:
            return "getting secrets manager: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables"
        if record.get("passphrase") and record["passphrase"] != digest(given):
            return "incorrect passphrase"
        return None

    injected = state.get("fail", {}).get(f"{verb} {project}")
    if injected and injected.get("times", 0) != 0:
        injected["times"] = injected["times"] - 1 if injected["times"] > 0 else -1
        say(f"{verb} of {key} starting")
        leaves = injected.get("leaves")
        record = stacks.get(key)
        if verb == "up" and leaves and record is not None and not record["resources"]:
            record["resources"] = leaves
            record["history"].append(history_entry(record, "update", "failed", {"create": leaves}))
        save()
        return fail(injected.get("message", "injected failure"))

    if verb in LOCKING and key in state.get("locked", []):
        holder = state.get("lock_holder", "ci@runner (pid 4242)")
        return fail(
            "the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n"
            f"  {backend}/.pulumi/locks/organization/{project}/{stack}/4f3c.json: created by {holder} at 2024-05-01T10:00:00Z"
        )

    if command == "stack ls":
        listed = []
        only = flag("--organization")
        for k, v in stacks.items():
            if k.startswith(project + "/"):
                shown = k.split("/", 1)[1]
                if not self_managed:
                    # Shown relative to the default organization; --organization lists one organization.
                    stack_org, _, stack_name = shown.partition("/")
                    if only and stack_org != only:
                        continue
                    shown = stack_name if stack_org == default_org else shown
                entry = {"name": shown, "current": False}
                if v["history"]:
                    entry["lastUpdate"] = "2024-05-01T10:00:00.000Z"
                    entry["resourceCount"] = v["resources"]
                listed.append(entry)
        say(json.dumps(listed))
        return 0

    if command == "stack select":
        if key not in stacks:
            if "--create" not in flags:
                return fail(f"no stack named '{stack}' found")
            provider = flag("--secrets-provider") or ("passphrase" if self_managed else "service")
            record = {"resources": 0, "outputs": {}, "history": [], "secretsProvider": provider}
            data = read_stack_file()
            if provider == "passphrase":
                given = passphrase()
                if given is None:
                    return fail(
                        "passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables"
                    )
                record["passphrase"] = digest(given)
                data.setdefault("encryptionsalt", "v1:c2FsdA==:v1:fake")
            elif provider != "service":
                data.setdefault("secretsprovider", provider)
                data.setdefault("encryptedkey", "ZmFrZS1rZXk=")
            if data:
                write_stack_file(data)
            stacks[key] = record
            say(f"Created stack '{stack}'")
        save()
        return 0

    if key not in stacks:
        return fail(f"no stack named '{stack}' found")
    current = stacks[key]

    if verb in SECRETS:
        problem = check_secrets(current)
        if problem:
            return fail(problem)

    def record(kind, changes):
        current["history"].append(history_entry(current, kind, "succeeded", changes))

    if command == "config set-all":
        data = read_stack_file()
        config = data.setdefault("config", {})
        for pair in flags.get("--plaintext", []):
            name, _, value = pair.partition("=")
            config[name] = value
        write_stack_file(data)
        return 0

    if verb == "up":
        say(f"Updating ({stack})")
        if state.get("echo_secrets"):
            say(f"debug: passphrase is {environ.get('PULUMI_CONFIG_PASSPHRASE')}")
        if state.get("hang") == f"up {project}":
            counter = Path(f"{state_path}.sigint")
            counter.write_text("0")
            call.interrupts.arm(lambda count: counter.write_text(str(count)))
            lock.release()  # a hanging engine holds its own stack's lock, not other stacks'
            Path(f"{state_path}.ready").write_text("ready")
            deadline = time.time() + 30
            while not call.interrupts.count and time.time() < deadline:
                time.sleep(0.05)
            say("^C received; cancelling the update and waiting for operations in flight", flush=True)
            # Let any further (unwanted) signals arrive while "cancelling", as the engine would.
            release = state.get("cancel_until")
            if release:
                deadline = time.time() + 30
                while not call.path(release).exists() and time.time() < deadline:
                    time.sleep(0.01)
            else:
                time.sleep(1.5)
            return fail("update canceled")
        created = 2 if current["resources"] == 0 else 0
        current["resources"] = max(current["resources"], 2)
        # Every layer's program exports something; a test names the outputs it reads.
        current["outputs"] = state.get("outputs", {}).get(project, {"stack": stack})
        record("update", {"create": created, "same": 2 - created})
        save()
        say(f"    + {created} created\nResources: {current['resources']}")
        return 0

    drift = state.get("drift", {}).get(project) if verb == "preview" else None
    if drift:
        say(f"Previewing update ({stack})")
        for line in drift:
            say(f"    {line}")
        say(f"Resources:\n    ~ {len(drift)} to update")
        if "--expect-no-changes" in flags:
            answer = state.get("drift_exit") or {}
            return fail(answer.get("message", "no changes were expected but changes were proposed"), int(answer.get("code", 255)))
        return 0

    if verb in ("preview", "refresh"):
        say(f"{verb} of {stack}: no changes")
        if verb == "refresh":
            record("refresh", {"same": current["resources"]})
            save()
        return 0

    if verb == "destroy":
        deleted = current["resources"]
        current["resources"] = 0
        current["outputs"] = {}
        record("destroy", {"delete": deleted})
        save()
        say(f"Destroying ({stack})\n    - {deleted} deleted")
        return 0

    if command == "stack rm":
        if current["resources"] and "--force" not in flags:
            return fail(
                f"'{stack}' still has resources; removal rejected. Possible actions:\n"
                "- Make sure that '{stack}' is the stack that you want to destroy\n"
                "- Run `pulumi destroy` to delete the resources, then run `pulumi stack rm`"
            )
        del stacks[key]
        save()
        if "--preserve-config" not in flags and stack_file.exists():
            stack_file.unlink()
        say(f"Stack '{stack}' has been removed!")
        return 0

    if command == "stack output":
        show = "--show-secrets" in flags
        say(
            json.dumps(
                {
                    name: (value["secret"] if show else "[secret]") if isinstance(value, dict) and "secret" in value else value
                    for name, value in current["outputs"].items()
                }
            )
        )
        return 0

    if command == "stack export":
        # The state as `pulumi stack export` prints it; ``pending_creates``: {"<project>": [urn, ...]}
        # are creates a killed run left unfinished.
        pending = (state.get("pending_creates") or {}).get(project, [])
        operations = [{"resource": {"urn": urn, "type": urn.split("::")[-2]}, "type": "creating"} for urn in pending]
        say(json.dumps({"version": 3, "deployment": {"manifest": {}, "resources": [], "pending_operations": operations}}))
        return 0

    if command == "stack history":
        size = int(flag("--page-size") or 10)
        say(json.dumps(list(reversed(current["history"]))[:size]))
        return 0

    return fail(f"the stand-in does not emulate `pulumi {' '.join(argv)}`", code=2)


if __name__ == "__main__":
    sys.exit(script(sys.argv[1:]))
