"""What makes the offline plan fast: lean SDK imports (shared/plan/lean.py), the layer groups of
the parallel renderer (shared/plan/parallel.py) and the two SDK costs a render skips
(shared/plan/sdk_speedups.py). Their effect on time is measured by `invoke bench`, never asserted
here; these tests pin that they change nothing a program or the document sees."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pulumi
import pytest
from conftest import ROOT
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import stack as sdk_stack

from shared import manifest
from shared.plan import engine, lean, parallel, sdk_speedups
from shared.plan.document import build_plan


def _python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (nothing of pulumi_aws loaded yet); it prints JSON."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_a_lean_package_loads_only_the_files_of_the_names_used_and_everything_on_an_unknown_name():
    seen = _python(
        """
        import json, sys
        import shared.plan.engine  # installs the lean import for every program it renders
        import pulumi_aws as aws
        loaded = lambda: sorted(m for m in sys.modules if m.startswith("pulumi_aws.ec2."))
        vpc = aws.ec2.Vpc
        first = loaded()
        result = {
            "first": first,
            "same_class": vpc is sys.modules["pulumi_aws.ec2.vpc"].Vpc,
            "function": callable(aws.ec2.get_vpc) and not isinstance(aws.ec2.get_vpc, type(sys)),
            "outputs_module": type(aws.ec2.outputs).__name__,
            "input_type": aws.ec2.SecurityGroupIngressArgs.__module__,
        }
        try:
            aws.ec2.NoSuchThing
        except AttributeError as exc:
            result["unknown"] = str(exc)
        result["after_unknown"] = len(loaded())
        result["dir"] = "VpnGateway" in dir(aws.ec2)
        print(json.dumps(result))
        """
    )
    # Vpc's own file and the type files it imports, not the other ~180 files of pulumi_aws.ec2.
    assert "pulumi_aws.ec2.vpc" in seen["first"] and "pulumi_aws.ec2.vpn_gateway" not in seen["first"]
    assert len(seen["first"]) < 10, seen["first"]
    assert seen["same_class"] and seen["function"] and seen["outputs_module"] == "module"
    assert seen["input_type"] == "pulumi_aws.ec2._inputs"
    # A name no file exports runs the package's real __init__, which then answers (no such name).
    assert seen["unknown"] == "module 'pulumi_aws.ec2' has no attribute 'NoSuchThing'"
    assert seen["after_unknown"] > 150 and seen["dir"]


def test_every_name_the_layers_use_is_the_object_a_full_import_gives():
    names = sorted({name for layer in manifest.LAYERS for name in parallel.layer_classes(layer)})
    assert len(names) > 50
    mismatched = _python(
        f"""
        import importlib, json
        from shared.plan import lean
        lean.install()
        import pulumi_aws
        names = {names!r}
        lean_objects = {{}}
        for module, name in names:
            try:
                lean_objects[(module, name)] = getattr(importlib.import_module(module), name)
            except AttributeError:
                pass  # a name the layers' text mentions that is no SDK name (a variable): not compared
        # dir() runs each package's real __init__, whose star imports rebind every name to the
        # object it exports: a name the lean package resolved to another object would differ now.
        for module in sorted({{m for m, _ in lean_objects}}):
            dir(importlib.import_module(module))
        print(json.dumps([f"{{m}}.{{n}}" for (m, n), obj in lean_objects.items() if vars(importlib.import_module(m))[n] is not obj]))
        """
    )
    assert mismatched == []


def test_a_package_whose_init_does_more_than_re_export_is_imported_as_usual(tmp_path: Path):
    plain = tmp_path / "plain.py"
    plain.write_text(
        "import builtins as _builtins\nfrom .. import _utilities\nimport typing\n# Export\nfrom ._enums import *\nfrom .vpc import *\nfrom ._inputs import *\nfrom . import outputs\n"
    )
    assert lean._layout(plain) == (["_enums", "vpc", "_inputs"], ["outputs"])
    other = tmp_path / "other.py"
    other.write_text("from .vpc import *\nconfig = _utilities.lazy_import('pulumi_aws.x.config')\n")
    assert lean._layout(other) is None


def test_partitions_are_every_split_into_at_most_n_groups():
    splits = list(parallel._partitions(["a", "b", "c"], 2))
    assert sorted(sorted(map(tuple, s)) for s in splits) == sorted(
        [[("a", "b", "c")], [("a",), ("b", "c")], [("a", "b"), ("c",)], [("a", "c"), ("b",)]]
    )
    assert len(list(parallel._partitions(list("abcde"), 2))) == 16  # 2**4
    assert len(list(parallel._partitions(list("abcde"), 5))) == 52  # Bell(5)


def test_the_split_puts_independent_imports_apart_and_shared_ones_together():
    independent = {"a": [], "b": []}
    disjoint = {"a": {"x.py": 28_000_000}, "b": {"y.py": 28_000_000}}
    # Each process imports its own half at the same time.
    assert parallel.best_split(["a", "b"], disjoint, independent, 2) == [["a"], ["b"]]
    # b reads a and needs the same big file: a second process would only import it again and wait.
    chain = {"a": {"x.py": 28_000_000}, "b": {"x.py": 28_000_000}}
    assert parallel.best_split(["a", "b"], chain, {"a": [], "b": ["a"]}, 2) == [["a", "b"]]
    # One process allowed: one group, whatever the estimate.
    assert parallel.best_split(["a", "b"], disjoint, independent, 1) == [["a", "b"]]
    # c reads a; b is independent but shares c's big file: b and c together, a alone.
    files = {"a": {"x.py": 1_000_000}, "b": {"w.py": 28_000_000}, "c": {"w.py": 28_000_000}}
    assert parallel.best_split(["a", "b", "c"], files, {"a": [], "b": [], "c": ["a"]}, 2) == [["a"], ["b", "c"]]


def test_layer_groups_cover_every_layer_once_in_dependency_order():
    ordered = manifest.ordered(manifest.LAYERS)
    for processes in (1, 2, 3, len(ordered)):
        groups = parallel.layer_groups(ordered, processes)
        assert 1 <= len(groups) <= processes
        assert sorted(lyr.name for group in groups for lyr in group) == sorted(lyr.name for lyr in ordered)
        for group in groups:
            assert list(group) == [lyr for lyr in ordered if lyr in group]
    assert len(parallel.layer_groups(ordered, 1)) == 1


def test_layer_processes_are_forked_only_from_a_process_running_no_other_thread(monkeypatch):
    # A CLI run has one thread: its layer processes are forked and inherit its imports (the real
    # `python -m invoke plan` in test_plan.py renders that way); a test process has the mock
    # runtime's threads, where a fork could inherit a lock held by another thread: the forkserver.
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert parallel._context().get_start_method() == "fork"
    monkeypatch.setattr(threading, "active_count", lambda: 3)
    assert parallel._context().get_start_method() == "forkserver"


def test_invoke_plan_renders_in_parallel_by_default_only_with_two_cpus_and_no_other_thread(monkeypatch, tmp_path: Path):
    import threading

    from invoke import Context

    import tasks
    from shared.plan import document

    asked: list[bool] = []

    class Written:
        def write(self, path: Path) -> None:
            pass

        def summary(self) -> str:
            return ""

    def fake_build_plan(env: str, region: str, *, parallel: bool = False) -> Written:
        asked.append(parallel)
        return Written()

    monkeypatch.setattr(document, "build_plan", fake_build_plan)
    for cpus, threads, choice, expected in [
        (2, 1, "auto", True),
        (4, 1, "auto", True),
        (1, 1, "auto", False),
        (2, 3, "auto", False),  # a test or an embedding process: render in-process
        (1, 3, "true", True),
        (8, 1, "false", False),
    ]:
        monkeypatch.setattr(parallel, "usable_cpus", lambda cpus=cpus: cpus)
        monkeypatch.setattr(threading, "active_count", lambda threads=threads: threads)
        tasks.plan(Context(), env="demo", region="us-east-1", out=str(tmp_path / "p.json"), quiet=True, parallel=choice)
        assert asked.pop() is expected, (cpus, threads, choice)


def test_invoke_check_and_cost_take_the_same_parallel_choice_as_invoke_plan(monkeypatch, tmp_path: Path):
    import threading

    from invoke import Context, Exit

    import tasks
    from shared.compliance import offline
    from shared.cost import runner

    asked: list[tuple[str, bool]] = []

    class Passed:
        passed = True

        def format(self, verbose: bool = True) -> str:
            return ""

    def fake_check(env: str, *, parallel: bool = False, **_: object) -> Passed:
        asked.append(("check", parallel))
        return Passed()

    def fake_render(env: str, region: str, *, parallel: bool = False, **_: object) -> dict:
        asked.append(("cost", parallel))
        return {"format": 1, "environment": env, "region": region, "layers": []}

    monkeypatch.setattr(offline, "check_environment", fake_check)
    monkeypatch.setattr(runner, "render_plan", fake_render)
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 2)
    for threads, choice, expected in [(1, "auto", True), (3, "auto", False), (3, "true", True), (1, "false", False)]:
        monkeypatch.setattr(threading, "active_count", lambda threads=threads: threads)
        tasks.check(Context(), env="demo", region="us-east-1", parallel=choice)
        tasks.cost(Context(), env="demo", region="us-east-1", parallel=choice)
        assert asked == [("check", expected), ("cost", expected)], (threads, choice)
        asked.clear()
    for task in (tasks.check, tasks.cost):
        with pytest.raises(Exit) as refused:
            task(Context(), env="demo", region="us-east-1", parallel="maybe")
        assert refused.value.code == 2 and "--parallel must be auto, true or false (got 'maybe')" in str(refused.value.message)
    assert asked == []  # refused before anything was rendered


def test_check_renders_the_environment_and_its_second_region_with_the_choice_and_cost_too(monkeypatch):
    from shared.compliance import offline
    from shared.cost import runner

    asked: list[tuple[str, bool]] = []

    def spy(module):
        real = module.build_plan

        def build_plan(env: str, region: str, *, parallel: bool = False, **kwargs):
            asked.append((region, parallel))
            return real(env, region, **kwargs)  # rendered serially (and memoized): the choice is what is tested

        monkeypatch.setattr(module, "build_plan", build_plan)

    spy(offline)
    spy(runner)
    offline.load("demo", region="us-east-1", parallel=True)
    assert asked == [("us-east-1", True), ("eu-west-1", True)]
    asked.clear()
    runner.render_plan("demo", "us-east-1", parallel=True)
    assert asked == [("us-east-1", True)]


# -- the SDK costs a render skips (shared/plan/sdk_speedups.py) -----------------------------------


def test_the_replaced_wait_loop_is_the_one_the_installed_sdk_has():
    # Fails after an upgrade of pulumi that changed wait_for_rpcs: the render then keeps the SDK's
    # own loop (slower, never wrong); compare the new one with sdk_speedups._wait_for_rpcs, carry
    # the change over, and record the new fingerprint.
    assert sdk_speedups.wait_loop_matches(), "pulumi.runtime.stack.wait_for_rpcs changed: see shared/plan/sdk_speedups.py"


def test_a_plan_rendered_without_the_speedups_is_byte_identical(default_plan, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(engine, "offline_speedups", contextlib.nullcontext)  # conftest: no cached render now
    build_plan("demo", "us-east-1").write(tmp_path / "sdk.json")
    default_plan.write(tmp_path / "fast.json")
    assert (tmp_path / "sdk.json").read_bytes() == (tmp_path / "fast.json").read_bytes()


def _render(program) -> engine.Rendered:
    return engine.render_program(program, project="speed", stack="test", region="us-east-1")


def test_a_render_uses_the_replacements_and_puts_the_sdks_own_back():
    sdk_trace, sdk_wait = sdk_resource._get_stack_trace, sdk_stack.wait_for_rpcs
    during = {}

    def program() -> None:
        during["trace"] = sdk_resource._get_stack_trace
        during["wait"] = sdk_stack.wait_for_rpcs
        pulumi.export("x", 1)

    assert _render(program).outputs == {"x": 1}
    assert during == {"trace": sdk_speedups._no_stack_trace, "wait": sdk_speedups._wait_for_rpcs}
    assert (sdk_resource._get_stack_trace, sdk_stack.wait_for_rpcs) == (sdk_trace, sdk_wait)


def test_a_changed_sdk_loop_is_kept_and_the_stack_capture_still_skipped(monkeypatch):
    sdk_wait = sdk_stack.wait_for_rpcs
    during = {}

    def program() -> None:
        during["wait"] = sdk_stack.wait_for_rpcs
        during["trace"] = sdk_resource._get_stack_trace

    monkeypatch.setattr(sdk_speedups, "SDK_WAIT_FOR_RPCS_SHA256", "0" * 64)
    sdk_speedups.wait_loop_matches.cache_clear()
    try:
        _render(program)
    finally:
        monkeypatch.undo()
        sdk_speedups.wait_loop_matches.cache_clear()
    assert during == {"wait": sdk_wait, "trace": sdk_speedups._no_stack_trace}


def test_outputs_created_while_waiting_are_awaited_and_a_failed_one_raises_its_own_error():
    done: list[str] = []

    async def later(value: str) -> str:
        await asyncio.sleep(0.01 * len(value))
        done.append(value)
        return value

    def spawn(value: str) -> str:
        # Once resolved, an output creates another that outlives it and that nothing awaits: the
        # wait must pick up each generation (the SDK waits twice per render: three generations).
        if len(value) < 4:
            pulumi.Output.from_input(later(value + "+")).apply(spawn)
        return value

    def chain(value: str) -> pulumi.Output[str]:
        return pulumi.Output.from_input(later(value)).apply(spawn)

    def program() -> None:
        chain("a")
        chain("b")

    _render(program)
    assert sorted(done) == ["a", "a+", "a++", "a+++", "b", "b+", "b++", "b+++"]

    def refuse(value: str) -> str:
        raise ValueError(f"refused {value}")

    def failing() -> None:
        chain("c")
        pulumi.Output.from_input(later("d")).apply(refuse)

    with pytest.raises(ValueError, match="refused d"):
        _render(failing)


def test_plans_render_with_fewer_collections_and_the_callers_pace_comes_back(monkeypatch):
    import gc

    from shared.plan import collector, document

    seen: list[tuple[int, int, int]] = []
    real = document._render_layer

    def observed(*args, **kwargs):
        seen.append(gc.get_threshold())
        return real(*args, **kwargs)

    monkeypatch.setattr(document, "_render_layer", observed)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's default: a CLI process's pace
    try:
        build_plan("demo", "us-east-1", layers=[manifest.by_name("network")])
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(100_000, 5, 50)  # a caller's own higher value is kept where it is higher
        build_plan("demo", "us-east-1", layers=[manifest.by_name("network")])
        assert gc.get_threshold() == (100_000, 5, 50)
        gc.set_threshold(0)  # automatic collection off stays off
        build_plan("demo", "us-east-1", layers=[manifest.by_name("network")])
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
    assert seen == [collector.THRESHOLD, (100_000, 20, 50), (0, 5, 50)]


def test_a_failing_render_puts_the_sdks_functions_and_the_callers_collector_pace_back():
    import gc

    from shared.plan import collector

    sdk_trace, sdk_wait = sdk_resource._get_stack_trace, sdk_stack.wait_for_rpcs
    before = gc.get_threshold()

    def program() -> None:
        raise RuntimeError("the program failed")

    with pytest.raises(RuntimeError, match="the program failed"), collector.fewer_collections():
        assert gc.get_threshold() != before or before == collector.THRESHOLD
        _render(program)
    assert gc.get_threshold() == before
    assert (sdk_resource._get_stack_trace, sdk_stack.wait_for_rpcs) == (sdk_trace, sdk_wait)


@pytest.mark.parametrize("args", [("--repeat", "x"), ("--repeat", "0"), ("--suite", "--suite-runs", "0")])
def test_bench_refuses_a_count_that_is_not_a_whole_number_of_runs(run_invoke, args):
    result = run_invoke("bench", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert f"{args[-2]} must be a whole number, at least 1 (got '{args[-1]}')" in result.stderr
    assert "import pulumi" not in result.stdout  # nothing was timed


def test_bench_compares_each_suite_run_with_the_plans_timed_around_it(run_invoke, monkeypatch):
    """Each suite run is timed between serial plans, and its ratio is taken against the median of
    those plans (the machine drifts), not against the fastest plan of the session."""
    import tasks

    clock = [0.0]
    commands: list[str] = []
    suites: list[list[str]] = []
    plan_seconds = iter([9.0, 2.0, 4.0, 3.0])  # the serial plans, in order

    def fake_run(cmd, **kwargs):
        code = " ".join(cmd[1:])
        if "pytest" in code:
            kind, seconds = "suite", 30.0
            suites.append(cmd[1:])
        elif "parallel=True" in code:
            kind, seconds = "parallel", 1.0
        elif "build_plan" in code:
            kind, seconds = "plan", next(plan_seconds)
        else:
            kind, seconds = "import", 1.0
        commands.append(kind)
        clock[0] += seconds
        return subprocess.CompletedProcess(cmd, 0, "", "")

    class Clock:  # tasks' own `time`: the fake clock, nothing else in the process sees it
        def __getattr__(self, name: str):
            return getattr(time, name)

        def perf_counter(self) -> float:
            return clock[0]

    monkeypatch.setattr(tasks.subprocess, "run", fake_run)
    monkeypatch.setattr(tasks, "time", Clock())
    result = run_invoke("bench", "--env", "demo", "--repeat", "1", "--suite", "--suite-runs", "2")
    assert result.returncode == 0, result.stderr
    # imports, the serial plan (9 s), the parallel plan; then plan, suite, plan, suite, plan
    assert commands[-5:] == ["plan", "suite", "plan", "suite", "plan"], commands
    # run 1 between plans of 2 s and 4 s (median 3), run 2 between 4 s and 3 s (median 3.5)
    assert "serial plan around each run (median)          : 3.00, 3.50 s" in result.stdout
    assert "median of the runs: 10.00, 8.57" in result.stdout
    # the earlier measure too: each run against the best serial plan timed at the start (9 s)
    assert "(the runs: 3.33, 3.33; the measure before 2026-12-06)" in result.stdout
    # the suite as `invoke test` runs it (test below)
    assert suites[0][:6] == ["-m", "pytest", "-n", "auto", "--dist", "worksteal"]


def test_invoke_test_hands_the_tests_out_by_worksteal_unless_told_otherwise(monkeypatch):
    from invoke import Context

    import tasks

    ran: list[list[str]] = []

    class Finished:
        exited = 0

    def record(self, command: str, **kwargs) -> Finished:
        ran.append(command.split()[1:])
        return Finished()

    monkeypatch.setattr(Context, "run", record)
    tasks.test(Context())
    assert ran.pop() == ["-m", "pytest", "-n", "auto", "--dist", "worksteal"]
    tasks.test(Context(), workers="0")  # one process: no workers to hand tests to
    assert ran.pop() == ["-m", "pytest"]
    tasks.test(Context(), args="-n 3 -k network")  # the caller's own -n decides
    assert ran.pop() == ["-m", "pytest", "-n", "3", "-k", "network"]


def test_bench_refuses_suite_runs_without_the_suite(run_invoke):
    result = run_invoke("bench", "--suite-runs", "3")
    assert result.returncode == 2 and "add --suite" in result.stderr and "Traceback" not in result.stderr
