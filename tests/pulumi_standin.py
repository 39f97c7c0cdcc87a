"""A recording stand-in for the ``pulumi`` executable, used by tests/test_deploy.py.

The tests copy this file to ``<tmp>/bin/pulumi`` (with a shebang for the test interpreter) and
put that directory first on PATH. Every invocation appends one JSON line to ``$FAKE_PULUMI_LOG``:
``{"argv": [...], "cwd": ..., "project": ..., "env": {selected variables}}``. Stacks live in the
JSON file ``$FAKE_PULUMI_STATE``, which the tests also use to inject behaviour:

* ``version``: what ``pulumi version`` prints (default v3.130.0);
* ``outputs``: ``{project: {name: value}}`` a successful ``up`` exports; a value
  ``{"secret": x}`` is a secret output;
* ``fail``: ``{"<command> <project>": {"times": n, "message": text}}`` makes that command fail n
  times (-1: always), printing ``error: <text>``;
* ``locked``: ``["<project>/<stack>", ...]`` stacks whose mutating commands report a lock;
* ``hang``: ``"<command> <project>"`` waits for SIGINT, counts each one in ``<state>.sigint``,
  then cancels like the engine does;
* ``echo_secrets``: print the passphrase during ``up`` (to prove the caller scrubs it).

It emulates only what the deploy tasks use: version, stack select/ls/rm/output/history,
config set-all, up, preview, refresh, destroy.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import yaml

RECORDED_ENV = (
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_CONFIG_PASSPHRASE_FILE",
    "PULUMI_SKIP_UPDATE_CHECK",
)
MUTATING = {"up", "destroy", "refresh", "config", "rm"}


def flag(argv, name):
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def flags(argv, name):
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == name]


def project_of(argv):
    cwd = flag(argv, "--cwd") or os.getcwd()
    return yaml.safe_load((Path(cwd) / "Pulumi.yaml").read_text())["name"]


def load(path):
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def main(argv):
    state_path = os.environ["FAKE_PULUMI_STATE"]
    state = load(state_path)
    words = [a for a in argv if not a.startswith("-")]
    command = " ".join(words[:2]) if words[:1] in (["stack"], ["config"]) else (words[0] if words else "")
    project = None
    if command not in ("version", ""):
        project = project_of(argv)
    with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
        log.write(
            json.dumps({"argv": argv, "cwd": os.getcwd(), "project": project, "command": command, "env": {k: os.environ.get(k) for k in RECORDED_ENV}})
            + "\n"
        )

    def save():
        Path(state_path).write_text(json.dumps(state, indent=1))

    def fail(message, code=255):
        print(f"error: {message}", file=sys.stderr)
        return code

    if command == "version":
        print(state.get("version", "v3.130.0"))
        return 0

    stacks = state.setdefault("stacks", {})
    stack = flag(argv, "--stack")
    if command == "stack rm":
        stack = words[2] if len(words) > 2 else stack
    key = f"{project}/{stack}"
    verb = command.split()[-1]

    injected = state.get("fail", {}).get(f"{verb} {project}")
    if injected and injected.get("times", 0) != 0:
        injected["times"] = injected["times"] - 1 if injected["times"] > 0 else -1
        save()
        print(f"{verb} of {key} starting")
        return fail(injected.get("message", "injected failure"))

    if verb in MUTATING and key in state.get("locked", []):
        return fail(
            "the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or manually delete the lock file(s).\n"
            f"  file:///state/.pulumi/locks/organization/{project}/{stack}/4f3c.json: created by ci@runner (pid 4242) at 2024-05-01T10:00:00Z"
        )

    if command == "stack ls":
        print(json.dumps([
            {"name": k.split("/", 1)[1], "current": False, "resourceCount": v["resources"]}
            for k, v in stacks.items() if k.startswith(project + "/")
        ]))
        return 0

    if command == "stack select":
        if key not in stacks:
            if "--create" not in argv:
                return fail(f"no stack named '{stack}' found")
            stacks[key] = {"resources": 0, "config": {}, "outputs": {}, "history": [], "secretsProvider": flag(argv, "--secrets-provider")}
            print(f"Created stack '{stack}'")
        save()
        return 0

    if key not in stacks:
        return fail(f"no stack named '{stack}' found")
    current = stacks[key]

    def record(kind, changes):
        current["history"].append({"version": len(current["history"]) + 1, "kind": kind, "result": "succeeded", "resourceChanges": changes})

    if command == "config set-all":
        for pair in flags(argv, "--plaintext"):
            name, _, value = pair.partition("=")
            current["config"][name] = value
        save()
        return 0

    if verb == "up":
        print(f"Updating ({stack})")
        if state.get("echo_secrets"):
            print(f"debug: passphrase is {os.environ.get('PULUMI_CONFIG_PASSPHRASE')}")
        if state.get("hang") == f"up {project}":
            counter = Path(state_path + ".sigint")
            counter.write_text("0")
            seen = []

            def on_sigint(signum, frame):
                seen.append(signum)
                counter.write_text(str(len(seen)))

            signal.signal(signal.SIGINT, on_sigint)
            Path(state_path + ".ready").write_text("ready")
            deadline = time.time() + 30
            while not seen and time.time() < deadline:
                time.sleep(0.05)
            print("^C received; cancelling the update and waiting for operations in flight", flush=True)
            # Let any further (unwanted) signals arrive while "cancelling", as the engine would.
            time.sleep(1.5)
            return fail("update canceled")
        created = 2 if current["resources"] == 0 else 0
        current["resources"] = max(current["resources"], 2)
        current["outputs"] = state.get("outputs", {}).get(project, {})
        record("update", {"create": created, "same": 2 - created})
        save()
        print(f"    + {created} created\nResources: {current['resources']}")
        return 0

    if verb in ("preview", "refresh"):
        print(f"{verb} of {stack}: no changes")
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
        print(f"Destroying ({stack})\n    - {deleted} deleted")
        return 0

    if command == "stack rm":
        if current["resources"] and "--force" not in argv:
            return fail(f"'{stack}' still has resources; removal rejected")
        del stacks[key]
        save()
        print(f"Stack '{stack}' has been removed!")
        return 0

    if command == "stack output":
        show = "--show-secrets" in argv
        print(json.dumps({
            name: (value["secret"] if show else "[secret]") if isinstance(value, dict) and "secret" in value else value
            for name, value in current["outputs"].items()
        }))
        return 0

    if command == "stack history":
        print(json.dumps(list(reversed(current["history"]))))
        return 0

    return fail(f"the stand-in does not emulate `pulumi {' '.join(argv)}`", code=2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
