"""Tasks for the ML API platform: `invoke --list`, `invoke --help <task>`.

Offline (no Pulumi CLI, no AWS account): plan, check, bench, lint, test, docs.
Deploying (Pulumi CLI + AWS credentials): up-all, down-all, up, down, preview, refresh, outputs.
After deploying (AWS credentials, the outputs file): release, verify.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from invoke import Collection, Exit, task

ROOT = Path(__file__).resolve().parent


def _user_error(exc: BaseException) -> Exit:
    """A user mistake: one paragraph, no traceback, non-zero exit."""
    return Exit(f"error: {exc}", code=2)


def _default_region(env: str) -> str:
    """The region the offline tasks render: the environment file's aws:region (the one up-all
    deploys to), else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. --region overrides it."""
    import os

    from shared.stack_config import environment_region

    return environment_region(env) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


# How `invoke test` (and `invoke bench --suite`) hand the tests to the xdist workers. worksteal:
# each worker starts with a contiguous half of the collection, so the tests of one module (which
# share its fixtures, moto worlds and renders) mostly run on one worker, and a worker that runs dry
# takes tests from the end of the other's. Measured on 2 CPUs (docs/speed.md): 8 alternating pairs
# of runs, worksteal 35.8-39.1 s against 37.1-43.5 s with xdist's default (`load`: tests dealt out
# one batch at a time, so most modules' fixtures are built on both workers).
_XDIST_DIST = ("--dist", "worksteal")


_PARALLEL_HELP = (
    "auto (default: layers split over one process per CPU when there are 2 or more and nothing else runs"
    " in this process), true (always) or false (one process)"
)


def _in_parallel(parallel: object) -> bool:
    """Whether an offline render uses the parallel renderer (shared/plan/parallel.py): --parallel."""
    from shared.plan.parallel import usable_cpus

    choice = str(parallel).strip().lower()
    if choice not in ("auto", "true", "false"):
        raise Exit(f"error: --parallel must be auto, true or false (got {parallel!r}).", code=2)
    # Measured with invoke bench (docs/speed.md): from 2 CPUs on, the layer groups import and render
    # at the same time; on one CPU a second process only adds its start-up. A process that already
    # runs other threads (the task called from a test, or embedded) cannot fork its imports to the
    # layer processes and has usually paid them: it renders in-process unless told otherwise.
    return usable_cpus() >= 2 and threading.active_count() == 1 if choice == "auto" else choice == "true"


@task(
    help={
        "env": "environment suffix (lowercase letters, digits, hyphens; also the stack name)",
        "region": "AWS region to render for (default: aws:region in environments/<env>.yaml, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)",
        "out": "where to write the plan document (default: plans/<env>.plan.json)",
        "quiet": "print only where the plan was written",
        "parallel": _PARALLEL_HELP,
    }
)
def plan(c, env, region=None, out=None, quiet=False, parallel="auto"):
    """Render every layer offline, in dependency order, and write the plan document.

    Runs each layer's real program under the Pulumi SDK mock runtime; needs no Pulumi CLI,
    no credentials and no network. Nothing is deployed.
    """
    from shared.errors import ConfigError, PlatformError
    from shared.plan.document import build_plan

    region = region or _default_region(env)
    in_parallel = _in_parallel(parallel)
    try:
        result = build_plan(env, region, parallel=in_parallel)
    except (ConfigError, PlatformError) as exc:
        raise _user_error(exc) from None
    target = Path(out) if out else ROOT / "plans" / f"{env}.plan.json"
    result.write(target)
    if not quiet:
        print(result.summary())
        print()
    print(f"Plan document written to {target}")


@task(
    help={
        "env": "environment suffix to check (the same as for plan)",
        "plan": "check this plan document instead of rendering the environment now",
        "region": "AWS region to render for (default: aws:region in environments/<env>.yaml, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1; with --plan: the file's)",
        "protect": "judge the environment as protected (renders it with protect=true); default: its own `protect` setting",
        "quiet": "list only violations, not waived and not-judged findings",
        "parallel": _PARALLEL_HELP + "; applies to both renderings (the environment and its second region)",
    }
)
def check(c, env, plan=None, region=None, protect=False, quiet=False, parallel="auto"):
    """Check the whole environment against the compliance rules (AWS FSBP and the project's own), offline.

    The same rules run as the policy pack in policy/ during real deployments. Prints a report
    grouped by layer (rule, resource, what is wrong, what to change); exits 1 on any mandatory
    violation. Needs no Pulumi CLI, no credentials and no network.
    """
    from shared.compliance.offline import check_environment
    from shared.errors import ConfigError, PlatformError

    in_parallel = _in_parallel(parallel)
    try:
        report = check_environment(
            env,
            region=region or (None if plan else _default_region(env)),
            plan_file=Path(plan) if plan else None,
            protect=True if protect else None,
            parallel=in_parallel,
        )
    except (ConfigError, PlatformError) as exc:
        raise _user_error(exc) from None
    print(report.format(verbose=not quiet))
    if not report.passed:
        raise Exit(f"{len(report.mandatory_violations)} mandatory compliance violation(s): see the report above", code=1)


@task(
    help={
        "env": "environment suffix to price (rendered offline now, like `invoke plan`); optional with --plan",
        "plan": "price this plan document instead of rendering the environment",
        "region": "AWS region to render for (default: aws:region in environments/<env>.yaml, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1; with --plan: the file's)",
        "protect": "render the environment protected (protect=true in every layer), as `invoke check --protect` does",
        "usage": "YAML file of usage assumptions (traffic, volumes, hours per month) over the printed defaults; see docs/cost.md",
        "compare": "a baseline plan document (for example main's): print what this plan changes, in dollars per month",
        "out": "also write the estimate (and the comparison) as JSON to this file",
        "parallel": _PARALLEL_HELP + "; only when rendering (not with --plan)",
    }
)
def cost(c, env=None, plan=None, region=None, protect=False, usage=None, compare=None, out=None, parallel="auto"):
    """Estimate what an environment costs per month, per layer and per resource, before it is deployed.

    Prices the plan document (rendered now, or --plan FILE) at the AWS list prices of its region
    (shared/cost/prices.json, dated) under usage assumptions printed with the estimate. Resource
    kinds the estimator does not model are listed as not priced, never counted as zero. Needs no
    Pulumi CLI, no credentials and no network. Example: invoke cost --env pr-42 --compare plans/main.plan.json
    """
    from shared.cost.estimate import estimate
    from shared.cost.prices import load_table
    from shared.cost.report import comparison_document, format_comparison, format_table, to_document
    from shared.cost.runner import check_environment, read_plan, render_plan
    from shared.cost.usage import load_usage
    from shared.errors import ConfigError, PlatformError

    if not env and not plan:
        raise Exit("error: give --env ENV (renders the plan now) or --plan FILE", code=2)
    if plan and (protect or region):
        raise Exit(
            "error: --protect and --region apply when rendering; a --plan file was rendered with its own (leave them out)", code=2
        )
    in_parallel = _in_parallel(parallel)
    try:
        table = load_table()
        assumptions = load_usage(Path(usage) if usage else None)
        if plan:
            document = read_plan(Path(plan))
            check_environment(document, env, plan)
        else:
            region = region or _default_region(env)
            table.for_region(region)  # a region without prices fails before the plan is rendered
            document = render_plan(env, region, protect=protect, parallel=in_parallel)
        current = estimate(document, table, assumptions)
        baseline = estimate(read_plan(Path(compare)), table, assumptions) if compare else None
    except (ConfigError, PlatformError) as exc:
        raise _user_error(exc) from None
    result = to_document(current)
    if baseline is not None:
        print(format_comparison(baseline, current, compare))
        result["comparison"] = {"baseline": str(compare), **comparison_document(baseline, current)}
    else:
        print(format_table(current))
    if out:
        import json

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nEstimate written to {out}")


@task(
    help={
        "region": "the region to refresh (a new one is added only when the API prices every key)",
        "dry_run": "print the prices the API gives without writing shared/cost/prices.json",
    }
)
def cost_prices(c, region, dry_run=False):
    """Refresh one region of the price table (shared/cost/prices.json) from the AWS Price List API.

    Needs AWS credentials allowed pricing:GetProducts (the API answers from us-east-1). Prices the
    API does not give are kept and named. Example: invoke cost-prices --region eu-west-1
    """
    import json

    from shared.cost.prices import load_table
    from shared.cost.refresh import apply, fetch_region, pricing_client
    from shared.errors import ConfigError, PlatformError
    from shared.settings import validate_region

    try:
        validate_region(region, "--region")
        table = load_table()
        refresh = fetch_region(pricing_client(), region)
        document = apply(table, refresh)
    except (ConfigError, PlatformError) as exc:
        raise _user_error(exc) from None
    old = table.document["regions"].get(region, {})
    for key, value in sorted(refresh.prices.items()):
        was = old.get(key)
        print(f"  {key:<34} {value:>12g}" + ("" if was is None or was == value else f"  (was {was:g})"))
    if refresh.missing:
        print(f"not in the API's answer, kept: {', '.join(refresh.missing)}")
    if dry_run:
        print("dry run: nothing written")
        return
    table.path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"{len(refresh.prices)} price(s) of {region} written to {table.path.relative_to(ROOT)}")


@task
def cost_docs(c):
    """Regenerate the estimates quoted in docs/cost.md from `invoke cost` (default and protected demo, us-east-1)."""
    from shared.cost.runner import DOC, regenerate_docs
    from shared.errors import ConfigError, PlatformError

    try:
        changed = regenerate_docs()
    except (ConfigError, PlatformError) as exc:
        raise _user_error(exc) from None
    print(f"{DOC.relative_to(ROOT)}: " + (f"updated {', '.join(changed)}" if changed else "already up to date"))


@task(
    help={
        "env": "environment suffix to plan",
        "region": "AWS region",
        "repeat": "runs of each measurement, a whole number (default 3; the best is kept); with --suite also the serial plans timed before and after each suite run",
        "suite": "also time the whole test suite as `invoke test` runs it (--suite-runs times, serial plans timed around each)",
        "suite_runs": "runs of the test suite with --suite, a whole number (default 2), each compared with the median of the plans timed around it",
        "bootstrap": "also time scripts/bootstrap.sh once into a fresh virtualenv in a temp dir (warm caches)",
    }
)
def bench(
    c,
    env: str = "bench",
    region: str = "us-east-1",
    repeat: int | None = None,
    suite: bool = False,
    suite_runs: int | None = None,
    bootstrap: bool = False,
) -> None:
    """Time a whole-environment offline plan against merely importing pulumi and pulumi_aws.

    All are measured here, in fresh interpreters, so the ratios are meaningful on any machine.
    pulumi_aws loads its service modules lazily, on first use, so a bare import loads almost
    nothing; the floor also loads every resource class the plan declares the usual way (each
    class's whole service module), which is what any run of these programs pays with a plain
    import. The plan engine loads only the files of the names it uses (shared/plan/lean.py): that
    import is shown too. --suite and --bootstrap are reported as multiples of one serial plan
    ("the suite costs N plans"): the suite is run --suite-runs times, each against the median of
    the serial plans timed right before and after it (the machine's speed drifts; a suite run
    averages over it, a best-of plan would be its fastest moment); bootstrap once.
    """
    from shared.plan.document import build_plan

    # No type on the options (None defaults): invoke would turn "x" into a traceback; this says what is allowed.
    suite_runs_given = suite_runs is not None
    counts: dict[str, int] = {}
    for option, value, default in (("--repeat", repeat, 3), ("--suite-runs", suite_runs, 2)):
        try:
            counts[option] = default if value is None else int(value)
        except (TypeError, ValueError):
            counts[option] = 0
        if counts[option] < 1:
            raise Exit(f"error: {option} must be a whole number, at least 1 (got {value!r}).", code=2)
    repeat, suite_runs = counts["--repeat"], counts["--suite-runs"]
    if suite_runs_given and not suite:
        raise Exit("error: --suite-runs counts runs of the test suite: add --suite (or leave --suite-runs out).", code=2)
    py = sys.executable
    # The resource classes the plan declares, from its type tokens (aws:ec2/vpc:Vpc -> pulumi_aws.ec2.Vpc).
    with contextlib.redirect_stderr(io.StringIO()):
        document = build_plan(env, region).document()
    classes = sorted(
        {
            (token.split(":")[1].split("/")[0], token.rsplit(":", 1)[1])
            for layer in document["layers"]
            for token in (r["type"] for r in layer["resources"])
            if token.startswith("aws:")
        }
    )
    load_classes = "; ".join(f"pulumi_aws.{module}.{cls}" for module, cls in classes)
    import_cmd = [py, "-c", "import pulumi, pulumi_aws"]
    import_used_cmd = [py, "-c", f"import pulumi, pulumi_aws; {load_classes}"]
    import_lean_cmd = [py, "-c", f"from shared.plan import lean; lean.install(); import pulumi, pulumi_aws; {load_classes}"]
    plan_cmd = [py, "-c", f"from shared.plan.document import build_plan; build_plan({env!r}, {region!r})"]
    parallel_cmd = [py, "-c", f"from shared.plan.document import build_plan; build_plan({env!r}, {region!r}, parallel=True)"]

    def timed(cmd: list[str], environ: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        # The plan's own warnings (sample domain, ...) are not what is measured; show them only on failure.
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=environ)
        elapsed = time.perf_counter() - started
        if run.returncode != 0:
            tail = "\n".join((run.stdout + run.stderr).splitlines()[-30:])
            raise Exit(f"benchmark command failed ({' '.join(cmd[:3])} ...):\n{tail}", code=run.returncode)
        return elapsed

    def best(cmd: list[str]) -> float:
        return min(timed(cmd) for _ in range(repeat))

    import_s = best(import_cmd)
    import_used_s = best(import_used_cmd)
    import_lean_s = best(import_lean_cmd)
    plan_s = best(plan_cmd)
    parallel_s = best(parallel_cmd)
    from shared import manifest
    from shared.plan.parallel import layer_groups, usable_cpus
    from shared.stack_config import environment_layers

    cpus = usable_cpus()
    timed_layers = manifest.ordered(environment_layers(env))  # what build_plan(env, ...) renders
    groups = " | ".join(", ".join(lyr.name for lyr in group) for group in layer_groups(timed_layers, cpus))
    print(f"import pulumi + pulumi_aws                    : {import_s:6.2f} s")
    print(
        f"  ... and the {len(classes):2d} resource classes the plan uses : {import_used_s:6.2f} s (the floor: whole service modules, as a plain import loads them)"
    )
    print(f"  ... only those classes' files (lean)        : {import_lean_s:6.2f} s (what the plan engine loads)")
    print(f"whole-environment plan, serial                : {plan_s:6.2f} s (its own interpreter start and imports included)")
    print(f"whole-environment plan, parallel ({cpus} CPUs)    : {parallel_s:6.2f} s (processes: {groups})")
    print(f"ratio serial plan / bare import               : {plan_s / import_s:6.2f}")
    print(f"ratio serial plan / import of what it uses    : {plan_s / import_used_s:6.2f}")
    print(f"ratio parallel plan / import of what it uses  : {parallel_s / import_used_s:6.2f} (target below 1.0)")
    print(f"ratio parallel plan / lean import             : {parallel_s / import_lean_s:6.2f}")
    if suite:
        # As `invoke test` runs it (xdist, one worker per core). This machine's speed drifts by
        # 10-20 % within minutes, and a suite run averages over its half minute: it is compared with
        # the typical plan of that moment (the median of the serial plans timed right before and
        # right after it), not with the fastest plan of the whole session.
        suite_cmd = [py, "-m", "pytest", "-n", "auto", *_XDIST_DIST, "-q", "-p", "no:cacheprovider"]
        runs: list[tuple[float, float]] = []
        after = [timed(plan_cmd) for _ in range(repeat)]
        for _ in range(suite_runs):
            before = after
            suite_s = timed(suite_cmd)
            after = [timed(plan_cmd) for _ in range(repeat)]
            runs.append((suite_s, statistics.median(before + after)))
        ratios = [s / p for s, p in runs]
        print("test suite (pytest -n auto, as invoke test)   : " + ", ".join(f"{s:.2f}" for s, _ in runs) + " s")
        print(
            "serial plan around each run (median)          : "
            + ", ".join(f"{p:.2f}" for _, p in runs)
            + f" s (of {repeat} before and {repeat} after it)"
        )
        print(
            f"ratio suite / serial plan around it           : {statistics.median(ratios):6.2f} "
            f"(median of the runs: {', '.join(f'{r:.2f}' for r in ratios)}; the suite costs this many plans; target <= 15 on 2 cores)"
        )
        # The earlier measure, kept for continuity: each run against the best serial plan timed at
        # the start (a best case against a typical run: reads higher when the machine drifts).
        print(
            f"  ... against the best serial plan above      : {statistics.median(s / plan_s for s, _ in runs):6.2f} "
            f"(the runs: {', '.join(f'{s / plan_s:.2f}' for s, _ in runs)}; the measure before 2026-12-06)"
        )
        print(
            f"ratio suite / parallel plan                   : {min(s for s, _ in runs) / parallel_s:6.2f} "
            "(best run / best parallel plan: in plans as `invoke plan` runs here)"
        )
    if bootstrap:
        import os
        import tempfile

        # A fresh virtualenv from the lock, as on a new machine, but with the caches this machine
        # already has (pip's, uv's): what a developer re-creating .venv waits for. Includes the demo plan.
        with tempfile.TemporaryDirectory(prefix="mlapi-bootstrap-") as scratch:
            environ = {**os.environ, "VENV": f"{scratch}/venv", "PLAN_OUT": f"{scratch}/demo.plan.json"}
            bootstrap_s = timed(["bash", "scripts/bootstrap.sh"], environ)
        print(f"bootstrap (fresh venv from the lock, warm caches, incl. the demo plan) : {bootstrap_s:6.2f} s")
        print(f"ratio bootstrap / serial plan                 : {bootstrap_s / plan_s:6.2f}")
        print(f"ratio bootstrap / import of what a plan uses  : {bootstrap_s / import_used_s:6.2f}")


@task(
    help={
        "package": "upgrade only this package (e.g. pulumi-aws); default: every package to the newest allowed by pyproject.toml"
    }
)
def lock(c, package=None):
    """Re-resolve requirements.lock (exact versions with hashes) from pyproject.toml, on purpose.

    The lock decides pulumi-aws and so the AWS provider plugin every deploy uses: commit the new
    lock, and every machine that runs scripts/bootstrap.sh deploys with the same one. Run it after
    adding a dependency to pyproject.toml too. Needs uv (installed by bootstrap) and PyPI.
    """
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        raise Exit("error: uv is not in this virtualenv; run scripts/bootstrap.sh first.", code=2)
    upgrade = ["--upgrade-package", package] if package else ["--upgrade"]
    cmd = [
        str(uv),
        "pip",
        "compile",
        "pyproject.toml",
        "--extra",
        "dev",
        "--generate-hashes",
        "--universal",
        "--quiet",
        *upgrade,
        "-o",
        "requirements.lock",
    ]
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        raise Exit("error: could not resolve the dependencies (see uv's message above).", code=1)
    pinned = next(
        (
            line.split("==")[1].split()[0]
            for line in (ROOT / "requirements.lock").read_text().splitlines()
            if line.startswith("pulumi-aws==")
        ),
        "?",
    )
    print(
        f"requirements.lock updated; pulumi-aws {pinned} (its provider plugin is what deploys will use). Install it: scripts/bootstrap.sh"
    )


# What `invoke lint` type-checks: the shared library (strict, see pyproject.toml), every layer's
# modules, the tasks and the policy pack. Tests are linted but not type-checked.
TYPED_PATHS = ("shared", "tasks.py", "policy/__main__.py")


def _layer_packages() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "stacks").glob("*/mlapi_*") if p.is_dir())


@task(help={"fix": "apply ruff's safe fixes and reformat instead of only reporting"})
def lint(c, fix=False):
    """The static gate CI runs before the tests: ruff lint, ruff format check, mypy (strict on shared/).

    Configured in pyproject.toml. Exits non-zero on any finding.
    """
    py = sys.executable
    steps = (
        [[py, "-m", "ruff", "check", "--fix", "."], [py, "-m", "ruff", "format", "."]]
        if fix
        else [[py, "-m", "ruff", "check", "."], [py, "-m", "ruff", "format", "--check", "."]]
    )
    # Each layer directory is a package root (its program imports `mlapi_<layer>`), so it goes on MYPYPATH.
    steps.append([py, "-m", "mypy", *TYPED_PATHS, *_layer_packages()])
    import os

    environ = {**os.environ, "MYPYPATH": os.pathsep.join(str(Path(p).parent) for p in _layer_packages())}
    failed = [" ".join(cmd[2:4]) for cmd in steps if subprocess.run(cmd, cwd=ROOT, env=environ).returncode != 0]
    if failed:
        raise Exit(f"lint failed: {', '.join(failed)}", code=1)
    print("lint passed: ruff check, ruff format, mypy")


@task(
    help={
        "args": "extra pytest arguments, quoted",
        "workers": "pytest-xdist workers (default: auto, one per CPU; 0 runs in this process)",
    }
)
def test(c, args="", workers="auto"):
    """Run the test suite (offline: mock runtime, moto and a recording stand-in for the Pulumi CLI) in parallel workers."""
    parallel = f"-n {workers} {' '.join(_XDIST_DIST)}" if str(workers) != "0" and "-n" not in args.split() else ""
    result = c.run(f"{sys.executable} -m pytest {parallel} {args}", warn=True, pty=False)
    if result.exited not in (0,):
        raise Exit(code=result.exited)


@task(help={"check": "only report which files are stale (exit 1), write nothing"})
def docs(c, check=False):
    """Regenerate the documentation blocks that come from the code.

    README.md's layers table and layer outputs (shared/manifest.py, shared/contracts.py) and
    docs/configuration.md's configuration tables (each layer's Pulumi.yaml config: block), between
    their `<!-- generated: ... -->` markers. Every layer of the manifest is included.
    """
    from shared import docs as generated
    from shared.errors import PlatformError

    try:
        changed = generated.stale() if check else generated.write()
    except PlatformError as exc:
        raise _user_error(exc) from None
    if check and changed:
        raise Exit(f"stale generated documentation in {', '.join(changed)}: run `invoke docs`", code=1)
    print(f"rewrote {', '.join(changed)}" if changed else "generated documentation is up to date")


# --- Deploying (Pulumi CLI + AWS credentials); the logic lives in shared/deploy/ -----------------

_ENV_HELP = "environment suffix: the stack name of every layer and part of every resource name"
_DEPLOY_HELP = {
    "env": _ENV_HELP,
    "region": "AWS region (default: environments/<env>.yaml aws:region, else the stacks' recorded region, else AWS_REGION/AWS_DEFAULT_REGION)",
    "skip_preview": "run `pulumi up --skip-preview` (faster; the default previews each layer before changing it)",
    "policy": "run the policy pack in policy/ when it exists (default); --no-policy skips it",
    "secrets_provider": "secrets provider for new stacks, e.g. awskms://alias/mlapi?region=eu-west-1 (default: passphrase on a self-managed backend)",
}
_HEALTH_HELP = {
    "health_check": "after a layer that runs a service (compute, payments) is up, wait until its tasks run and its targets are healthy (default); --no-health-check skips the gate",
    "health_timeout": "seconds the health gate waits for the service before failing with ECS's reasons (default 900)",
}
_EXISTING_SECRETS_HELP = (
    "the secrets provider the stacks were created with (e.g. awskms://...), when their Pulumi.<env>.yaml "
    "files are not in this checkout (a CI cleanup job): pre-flight then asks for no passphrase"
)
_DESTROY_HELP = {
    "env": _ENV_HELP,
    "attempts": "destroy attempts per layer before giving up (AWS can take minutes to release ENIs); a protected resource, a lock or bad credentials are not retried",
    "retry_delay": "seconds before the first retry; doubles after each failed attempt, at most 600 s per wait (or this delay, if larger)",
    "keep_stacks": "keep the emptied stacks (default: `pulumi stack rm` them)",
    "secrets_provider": _EXISTING_SECRETS_HELP,
}


def _deploy(action, env: str, **options):
    """Run ``action(Deployer)``; failures end as one message and an exit code, never a traceback."""
    from shared.deploy.orchestrator import Deployer, DeployError

    try:
        return action(Deployer(env, **options))
    except DeployError as exc:
        raise Exit(f"error: {exc}", code=exc.code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted (no Pulumi command was running)", code=130) from None


_PARALLEL_HELP = (
    "layers run at once (default: every layer whose upstreams are done); 1 runs them one after another in manifest order"
)


def _parallel(value: int | str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise Exit(f"error: --parallel must be a whole number of layers, 1 or more (got {value!r}).", code=2) from None


@task(
    help={
        **_DEPLOY_HELP,
        **_HEALTH_HELP,
        "check_idempotent": "after every layer is up, preview each with --expect-no-changes and fail naming any layer that would change again",
        "parallel": _PARALLEL_HELP,
    }
)
def up_all(
    c,
    env: str,
    region: str | None = None,
    skip_preview: bool = False,
    policy: bool = True,
    secrets_provider: str | None = None,
    health_check: bool = True,
    health_timeout: float = 900,
    check_idempotent: bool = False,
    parallel: int | None = None,
) -> None:
    """Deploy the environment's layers (environments/<env>.yaml `layers`, else all), each as soon as the layers it reads are deployed.

    Pre-flight checks run first (including the account's ECS service-linked role, quotas and the
    Aurora engine version) and nothing is touched unless all pass. A layer that runs a service
    counts as deployed only once the service is healthy. After a failure no new layer starts;
    running ones finish; the summary says which ran, failed or never started.
    Example: invoke up-all --env pr-42 --region eu-west-1 --check-idempotent
    """
    _deploy(
        lambda d: d.up_all(),
        env,
        region=region,
        skip_preview=skip_preview,
        policy=policy,
        secrets_provider=secrets_provider,
        health_check=health_check,
        health_timeout=float(health_timeout),
        check_idempotent=check_idempotent,
        parallel=_parallel(parallel),
    )


@task(help={**_DESTROY_HELP, "parallel": _PARALLEL_HELP.replace("upstreams are done", "readers are gone")})
def down_all(c, env, attempts=3, retry_delay=60, keep_stacks=False, secrets_provider=None, parallel=None):
    """Destroy every layer that has a stack (selected or not), each once every layer that reads it is gone.

    Missing stacks are skipped, failed destroys retried. Exits non-zero, saying what, if anything is
    left. Safe to run twice. Example: invoke down-all --env pr-42
    """
    _deploy(
        lambda d: d.down_all(),
        env,
        parallel=_parallel(parallel),
        attempts=attempts,
        retry_delay=retry_delay,
        keep_stacks=keep_stacks,
        secrets_provider=secrets_provider,
    )


@task(help={"layer": "layer name (see shared/manifest.py)", **_DEPLOY_HELP, **_HEALTH_HELP})
def up(
    c,
    layer: str,
    env: str,
    region: str | None = None,
    skip_preview: bool = False,
    policy: bool = True,
    secrets_provider: str | None = None,
    health_check: bool = True,
    health_timeout: float = 900,
) -> None:
    """Deploy one layer; the layers it reads must be deployed. Example: invoke up --layer network --env pr-42"""
    _deploy(
        lambda d: d.up(layer),
        env,
        region=region,
        skip_preview=skip_preview,
        policy=policy,
        secrets_provider=secrets_provider,
        health_check=health_check,
        health_timeout=float(health_timeout),
    )


@task(help={"env": _ENV_HELP, "region": _DEPLOY_HELP["region"], "secrets_provider": _EXISTING_SECRETS_HELP})
def idempotence(c, env: str, region: str | None = None, secrets_provider: str | None = None) -> None:
    """Preview every deployed layer with --expect-no-changes; fail naming each layer that would change again.

    Right after a deploy nothing should be left to do: a proposed change is a perpetual diff (a bug the
    offline plan cannot show). Changes nothing. Example: invoke idempotence --env pr-42
    """
    _deploy(lambda d: d.idempotence(), env, region=region, secrets_provider=secrets_provider)


@task(
    help={
        "region": "AWS region to call IAM through (default: AWS_REGION/AWS_DEFAULT_REGION, else us-east-1); the role is account-wide"
    }
)
def account_setup(c, region: str | None = None) -> None:
    """Once per AWS account: create the ECS service-linked role AWSServiceRoleForECS if it is missing.

    An account that never used ECS lacks it, and the first cluster's capacity providers then fail.
    It is account-wide, so no stack declares it and no down-all deletes it. Needs AWS credentials
    allowed iam:CreateServiceLinkedRole. Example: invoke account-setup
    """
    import os

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from shared.deploy.account import ensure_service_linked_role

    chosen = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        print(ensure_service_linked_role(boto3.session.Session(region_name=chosen).client("iam")))
    except (ClientError, BotoCoreError) as exc:
        raise Exit(
            f"error: could not create the ECS service-linked role ({exc}). Use credentials allowed "
            "iam:CreateServiceLinkedRole, or ask an account administrator to run "
            "`aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com`.",
            code=1,
        ) from None


@task(help={"layer": "layer name", "force": "destroy even while layers that read it still have stacks", **_DESTROY_HELP})
def down(c, layer, env, force=False, attempts=3, retry_delay=60, keep_stacks=False, secrets_provider=None):
    """Destroy one layer; refuses while a layer that reads it still has a stack (unless --force).

    Example: invoke down --layer edge --env pr-42
    """
    _deploy(
        lambda d: d.down(layer, force=force),
        env,
        attempts=attempts,
        retry_delay=retry_delay,
        keep_stacks=keep_stacks,
        secrets_provider=secrets_provider,
    )


@task(help={"layer": "layer name", **{k: v for k, v in _DEPLOY_HELP.items() if k != "skip_preview"}})
def preview(c, layer, env, region=None, policy=True, secrets_provider=None):
    """Preview one layer against AWS; its upstream stacks must exist (else use the offline `invoke plan`).

    Example: invoke preview --layer compute --env pr-42
    """
    _deploy(lambda d: d.preview(layer), env, region=region, policy=policy, secrets_provider=secrets_provider)


@task(help={"layer": "layer name", "env": _ENV_HELP, "secrets_provider": _EXISTING_SECRETS_HELP})
def refresh(c, layer, env, secrets_provider=None):
    """Reconcile one layer's state with what exists in AWS (pulumi refresh). Example: invoke refresh --layer data --env pr-42"""
    _deploy(lambda d: d.refresh(layer), env, secrets_provider=secrets_provider)


@task(
    help={
        "env": _ENV_HELP,
        "out": "where to write (default: cfn-outputs/flat-outputs.json)",
        "secrets_provider": _EXISTING_SECRETS_HELP,
    }
)
def outputs(c, env, out=None, secrets_provider=None):
    """Write every layer's outputs to one flat JSON file (<layer>.<name> and plain <name>; secrets as "[secret]").

    Needs no AWS credentials. Example: invoke outputs --env pr-42
    """
    _deploy(lambda d: d.write_outputs(Path(out) if out else None), env, secrets_provider=secrets_provider)


# --- After deploying (AWS credentials + the outputs file); the logic lives in shared/deploy/release.py
# and shared/verify/ --------------------------------------------------------------------------------

_OUTPUTS_HELP = "the flat outputs file `invoke outputs` writes (default: cfn-outputs/flat-outputs.json)"


@task(
    help={
        "layer": "a blue/green layer (payments)",
        "env": _ENV_HELP,
        "image_tag": "tag of the image to ship; it must already be in the layer's ECR repository",
        "outputs": _OUTPUTS_HELP,
        "timeout": "seconds to follow the deployment before giving up on watching it (it goes on without us)",
        "region": "AWS region (default: environments/<env>.yaml aws:region, else the region in the outputs' ARNs)",
    }
)
def release(c, layer, env, image_tag, outputs=None, timeout=3600, region=None):
    """Ship an image to a blue/green layer: new task definition revision, CodeDeploy deployment, followed to the end.

    Exits 0 when the deployment succeeds, 1 when it fails, is stopped or rolls back (with CodeDeploy's
    reason), 2 on bad input (checked before anything changes). Needs AWS credentials.
    Example: invoke release --layer payments --env pr-42 --image-tag 1.4.2
    """
    from shared.deploy import outputs as flat_outputs
    from shared.deploy.release import Release, ReleaseFailed, ReleaseTarget, clients, validate_tag
    from shared.deploy.session import session_for
    from shared.errors import ConfigError, PlatformError

    path = Path(outputs) if outputs else flat_outputs.DEFAULT_PATH
    try:
        try:
            seconds = float(timeout)
        except (TypeError, ValueError):
            seconds = 0.0
        if not seconds > 0:
            raise ConfigError("--timeout", timeout, "a positive number of seconds")
        validate_tag(image_tag)
        flat = flat_outputs.read(path)
        target = ReleaseTarget.from_outputs(layer, flat_outputs.layer_outputs(flat, layer), source=str(path))
        session = session_for(env, flat, region)
        Release(target, image_tag, timeout=seconds, **clients(session)).run()
    except (ConfigError, PlatformError) as exc:
        raise _user_error(exc) from None
    except ReleaseFailed as exc:
        raise Exit(f"release failed: {exc}", code=1) from None


@task(
    iterable=["url"],
    help={
        "env": _ENV_HELP,
        "outputs": _OUTPUTS_HELP,
        "layer": "verify only this layer (default: every layer the environment has)",
        "wait": "seconds to keep retrying the checks that settle after a deploy (HTTP answers, targets, tasks, log events)",
        "region": "AWS region (default: environments/<env>.yaml aws:region, else the region in the outputs' ARNs)",
        "url": "TARGET=BASE_URL: send that target's HTTP checks elsewhere (targets: site, site-http, alb, payments-test-listener); repeatable",
    },
)
def verify(c, env, outputs=None, layer=None, wait=0, region=None, url=None):
    """Check that a deployed environment works and is configured as promised: one row per check.

    Read-only (Describe/Get/List/Filter calls and HTTP GETs). Exits 0 when every check passes, 1 when any
    fails, 2 on bad input (no outputs file, an output missing, no AWS credentials).
    Example: invoke verify --env pr-42 --wait 600
    """
    from shared.deploy import outputs as flat_outputs
    from shared.deploy.session import session_for
    from shared.errors import ConfigError, PlatformError
    from shared.verify import URL_TARGETS, client_factory
    from shared.verify import verify as run_verify

    path = Path(outputs) if outputs else flat_outputs.DEFAULT_PATH
    try:
        try:
            wait_seconds = float(wait)
        except (TypeError, ValueError):
            wait_seconds = -1.0
        if not wait_seconds >= 0:
            raise ConfigError("--wait", wait, "a number of seconds, 0 or more")
        urls = {}
        for item in url or ():
            target, _, base = item.partition("=")
            if target not in URL_TARGETS or not base.startswith(("http://", "https://")):
                raise ConfigError("--url", item, f"TARGET=http(s)://..., TARGET one of {', '.join(URL_TARGETS)}")
            urls[target] = base
        flat = flat_outputs.read(path)
        session = session_for(env, flat, region)
        report = run_verify(
            env,
            flat,
            clients=client_factory(session),
            region=session.region_name,
            only=layer,
            urls=urls,
            wait=wait_seconds,
            out=print,
        )
    except (ConfigError, PlatformError) as exc:
        raise _user_error(exc) from None
    print(report.format())
    if not report.passed:
        raise Exit(
            f"{len(report.failures)} check(s) failed: see the FAIL rows above (docs/verify.md says what each usually means)",
            code=1,
        )


ns = Collection(
    plan,
    check,
    cost,
    cost_prices,
    cost_docs,
    bench,
    lint,
    test,
    lock,
    docs,
    up_all,
    down_all,
    up,
    down,
    preview,
    refresh,
    outputs,
    idempotence,
    account_setup,
    release,
    verify,
)
