"""Tasks for the ML API platform: `invoke --list`, `invoke --help <task>`.

Offline (no Pulumi CLI, no AWS account): plan, check, bench, test.
Deploying (Pulumi CLI + AWS credentials): up-all, down-all, up, down, preview, refresh, outputs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from invoke import Collection, Exit, task

ROOT = Path(__file__).resolve().parent


def _user_error(exc: BaseException) -> Exit:
    """A user mistake: one paragraph, no traceback, non-zero exit."""
    return Exit(f"error: {exc}", code=2)


def _default_region() -> str:
    import os

    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@task(
    help={
        "env": "environment suffix (lowercase letters, digits, hyphens; also the stack name)",
        "region": "AWS region to render for (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)",
        "out": "where to write the plan document (default: plans/<env>.plan.json)",
        "quiet": "print only where the plan was written",
    }
)
def plan(c, env, region=None, out=None, quiet=False):
    """Render every layer offline, in dependency order, and write the plan document.

    Runs each layer's real program under the Pulumi SDK mock runtime; needs no Pulumi CLI,
    no credentials and no network. Nothing is deployed.
    """
    from shared.errors import ConfigError, PlatformError
    from shared.plan.document import build_plan

    region = region or _default_region()
    try:
        result = build_plan(env, region)
    except (ConfigError, PlatformError) as exc:
        raise _user_error(exc) from None
    target = Path(out) if out else ROOT / "plans" / f"{env}.plan.json"
    result.write(target)
    if not quiet:
        print(result.summary())
        print()
    print(f"Plan document written to {target}")


@task(help={"env": "environment suffix to plan", "region": "AWS region", "repeat": "runs of each measurement (best is kept)"})
def bench(c, env="bench", region="us-east-1", repeat=3):
    """Time a whole-environment offline plan against merely importing pulumi and pulumi_aws.

    Both are measured here, in fresh interpreters, so the ratio is meaningful on any machine.
    """
    py = sys.executable
    import_cmd = [py, "-c", "import pulumi, pulumi_aws"]
    plan_cmd = [py, "-c", f"from shared.plan.document import build_plan; build_plan({env!r}, {region!r})"]

    def best(cmd: list[str]) -> float:
        times = []
        for _ in range(int(repeat)):
            started = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=ROOT)
            times.append(time.perf_counter() - started)
        return min(times)

    import_s = best(import_cmd)
    plan_s = best(plan_cmd)
    print(f"import pulumi + pulumi_aws : {import_s:6.2f} s")
    print(f"whole-environment plan     : {plan_s:6.2f} s (includes its own interpreter start and imports)")
    print(f"ratio plan / import        : {plan_s / import_s:6.2f}")


@task(help={"args": "extra pytest arguments, quoted"})
def test(c, args=""):
    """Run the test suite (offline: mock runtime, moto and a recording stand-in for the Pulumi CLI)."""
    result = c.run(f"{sys.executable} -m pytest {args}", warn=True, pty=False)
    if result.exited not in (0,):
        raise Exit(code=result.exited)


ns = Collection(plan, bench, test)
