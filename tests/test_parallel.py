"""Layer selection in every task, deploys that follow the layer graph, and the parallel offline plan.

Deploys run against the recording stand-in (tests/pulumi_standin.py) with a graph that has a
parallel branch: ``pay`` reads net and db, like payments, next to ``app`` (net, db) and ``cdn`` (app).
Each stand-in command records its start and end time, so overlap and order are read from its log.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import multiprocessing
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import test_deploy
from conftest import share_botocore_loaders
from test_deploy import (
    ENV,
    REGION,
    Standin,
    failing,
    interrupt_twice,
    run_task,
    start_driver,
    wait_until,
    wait_until_ready,
    write_driver,
)

import tasks
from shared import manifest
from shared.errors import ConfigError
from shared.plan.document import build_plan
from shared.plan.parallel import layer_classes
from shared.stack_config import environment_layers

GRAPH = (("net", ()), ("db", ("net",)), ("app", ("net", "db")), ("pay", ("net", "db")), ("cdn", ("app",)))
READS = dict(GRAPH)


def together(seconds: float = 10.0) -> dict[str, list]:
    """A stand-in ``wait_for`` that holds the `up` of app and pay (which become ready at the same
    moment: both read net and db) until the other has started: they both finish at once only if
    they ran at the same time; run one after the other, the first waits ``seconds`` in vain."""
    return {"up mlapi-app": ["started", "up mlapi-pay", seconds], "up mlapi-pay": ["started", "up mlapi-app", seconds]}


@pytest.fixture
def graph(tmp_path, monkeypatch):
    """The stand-in with the five-layer graph."""
    from moto import mock_aws

    for obj, name, value in test_deploy.patch_targets(tmp_path, GRAPH):
        monkeypatch.setattr(obj, name, value)
    test_deploy.set_domain(tmp_path)
    s = Standin(tmp_path)
    s.run_in_process(monkeypatch)
    share_botocore_loaders(monkeypatch)
    monkeypatch.setenv("PATH", f"{s.bin}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(s.log_path))
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(s.state_path))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", test_deploy.PASSPHRASE)
    for var in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_ACCESS_TOKEN", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(test_deploy.orchestrator, "_sleep", lambda seconds: None)
    with mock_aws():
        yield s


def times(s: Standin, command: str) -> dict[str, dict[str, float]]:
    """{layer: {start, end}} of the stand-in's runs of ``command`` (the last run of each layer)."""
    path = Path(str(s.log_path) + ".times")
    found: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["command"] == command and record["project"]:
            found[record["project"].removeprefix("mlapi-")] = record
    return found


def started(s: Standin, command: str) -> set[str]:
    """The layers whose ``command`` has started (the stand-in's ``.starts`` log; complete lines only)."""
    path = Path(str(s.log_path) + ".starts")
    lines = path.read_text().splitlines() if path.exists() else []
    records = [json.loads(line) for line in lines if line.endswith("}")]
    return {r["project"].removeprefix("mlapi-") for r in records if r["command"] == command and r["project"]}


def select_layers(s: Standin, *names: str) -> None:
    (s.root / "environments" / f"{ENV}.yaml").write_text(f"layers: [{', '.join(names)}]\n")


# -- layer selection ------------------------------------------------------------------------------------


def test_environment_layers_reads_the_selection_and_refuses_bad_ones(tmp_path, monkeypatch):
    from shared import stack_config

    monkeypatch.setattr(stack_config, "ENVIRONMENTS_DIR", tmp_path)
    assert [lyr.name for lyr in environment_layers("none")] == [lyr.name for lyr in manifest.LAYERS]
    (tmp_path / "sel.yaml").write_text("layers: [data, network]\n")
    assert [lyr.name for lyr in environment_layers("sel")] == ["network", "data"]
    (tmp_path / "drop.yaml").write_text("layers: [network, compute]\n")
    with pytest.raises(ConfigError, match="compute reads data"):
        environment_layers("drop")
    (tmp_path / "word.yaml").write_text("layers: network\n")
    with pytest.raises(ConfigError, match="a list of layer names"):
        environment_layers("word")


def test_plan_and_check_render_only_the_selected_layers(tmp_path, monkeypatch):
    from shared import stack_config
    from shared.compliance.offline import load

    monkeypatch.setattr(stack_config, "ENVIRONMENTS_DIR", tmp_path / "environments")
    monkeypatch.setattr(stack_config, "REPO_ROOT", tmp_path)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "netonly.yaml").write_text("layers: [network]\n")
    assert [lp.layer.name for lp in build_plan("netonly", "us-east-1").layers] == ["network"]
    view, _, _ = load("netonly", region="us-east-1", twin=False)
    assert list(view.layers) == ["network"]


def test_up_all_deploys_only_the_selection_and_up_refuses_other_layers(graph):
    select_layers(graph, "net", "db", "pay")
    run_task(tasks.up_all, env=ENV, region=REGION)
    assert sorted(graph.layers_of("up")) == ["db", "net", "pay"]
    exc = failing(tasks.up, layer="app", env=ENV, region=REGION)
    assert exc.code == 2 and "not part of environment t1" in exc.message and "layers: [net, db, pay]" in exc.message
    assert graph.layers_of("up") == ["net", "db", "pay"]  # nothing more ran


def test_down_all_also_destroys_layers_the_file_no_longer_selects_in_reverse_graph_order(graph, capsys):
    run_task(tasks.up_all, env=ENV, region=REGION)
    select_layers(graph, "net", "db")
    capsys.readouterr()
    run_task(tasks.down_all, env=ENV, retry_delay=0)
    out = capsys.readouterr().out
    assert "app, pay, cdn are not selected" in out and "destroying them too" in out
    assert graph.stacks() == set()
    ran = times(graph, "destroy")
    for layer, reads in READS.items():
        for upstream in reads:  # an upstream is destroyed only after each layer that reads it is gone
            assert ran[upstream]["start"] >= ran[layer]["end"], (upstream, layer)


def test_down_of_one_layer_refuses_while_a_layer_the_file_no_longer_selects_still_reads_it(graph):
    # app and pay read db; the file dropped them but their stacks are still there: destroying db
    # under them would leave two services without their database.
    run_task(tasks.up_all, env=ENV, region=REGION)
    select_layers(graph, "net", "db")
    exc = failing(tasks.down, layer="db", env=ENV)
    assert exc.code == 2 and "app, pay read(s) it" in exc.message, exc.message
    assert f"invoke down-all --env {ENV}" in exc.message and "no longer selects app" in exc.message
    assert graph.calls("destroy") == []


def test_a_layer_selection_left_in_stack_files_is_refused_before_a_deploy_and_shown_before_a_destroy(graph, capsys):
    # net and db were deployed for [net, db]; the file now selects every layer. net's program
    # would still read [net, db] from its stack file (and leave out what app and pay need).
    select_layers(graph, "net", "db")
    run_task(tasks.up_all, env=ENV, region=REGION)
    (graph.root / "environments" / f"{ENV}.yaml").write_text("protect: false\n")
    calls = len(graph.calls())
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    assert exc.code == 2 and f"stacks/net/Pulumi.{ENV}.yaml still selects layers" in exc.message, exc.message
    assert "mlapi-net:layers" in exc.message and "db:" in exc.message
    assert all(r["command"] == "version" for r in graph.calls()[calls:])  # nothing was touched
    capsys.readouterr()
    run_task(tasks.down_all, env=ENV, retry_delay=0)  # tearing down: shown, not refused
    assert "keeps mlapi-net:layers" in capsys.readouterr().out
    assert graph.stacks() == set()


# -- parallel deploys -----------------------------------------------------------------------------------


def test_up_all_runs_independent_layers_at_once_and_never_before_what_they_read(graph):
    graph.configure(wait_for=together())
    run_task(tasks.up_all, env=ENV, region=REGION)
    ran = times(graph, "up")
    assert set(ran) == set(READS)
    for layer, reads in READS.items():
        for upstream in reads:
            assert ran[layer]["start"] >= ran[upstream]["end"], (layer, upstream)
    # app and pay both read only net and db: they ran at the same time.
    assert ran["app"]["start"] < ran["pay"]["end"] and ran["pay"]["start"] < ran["app"]["end"]


def test_parallel_1_keeps_the_manifest_order_one_at_a_time(graph):
    # app waits (0.3 s at most) for pay to start: in parallel pay would, and the two would overlap.
    graph.configure(wait_for={"up mlapi-app": ["started", "up mlapi-pay", 0.3]})
    run_task(tasks.up_all, env=ENV, region=REGION, parallel=1)
    assert graph.layers_of("up") == ["net", "db", "app", "pay", "cdn"]
    ran = sorted(times(graph, "up").values(), key=lambda r: r["start"])
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(ran))


def test_parallel_must_be_a_positive_number(graph):
    assert failing(tasks.up_all, env=ENV, region=REGION, parallel=0).code == 2
    assert "whole number" in failing(tasks.up_all, env=ENV, region=REGION, parallel="two").message
    assert not graph.touched_state()


def test_a_failure_lets_running_layers_finish_and_starts_no_new_one(graph, capsys):
    # pay fails at once while app is still deploying: app finishes, cdn (which reads app) never starts.
    # app ends 1 s after pay's CLI has ended: up-all has taken in the failure by then (it reads pay's
    # history and records the failure within milliseconds); ending at the same moment, app could
    # be taken in first and cdn started, correctly, before the failure was known.
    graph.configure(
        wait_for={"up mlapi-app": ["ended", "up mlapi-pay", 10, 1.0]},
        fail={"up mlapi-pay": {"times": -1, "message": "quota exceeded"}},
    )
    exc = failing(tasks.up_all, env=ENV, region=REGION)
    out = capsys.readouterr().out
    assert exc.code == 1 and "layer pay" in exc.message and "quota exceeded" in exc.message
    assert "Not started: cdn" in exc.message
    assert sorted(graph.layers_of("up")) == ["app", "db", "net", "pay"]  # app ran to the end; cdn never started
    rows = {line.split()[0]: line for line in out[out.index("up-all t1: stopped at pay") :].splitlines()[1:] if line.strip()}
    assert "deployed" in rows["app"] and "failed" in rows["pay"] and "not run" in rows["cdn"]


def test_lines_are_prefixed_by_their_layer_and_plain_in_ci(graph, capsys):
    graph.configure(wait_for=together())
    run_task(tasks.up_all, env=ENV, region=REGION)
    out = capsys.readouterr().out
    assert "[app] Updating (t1)" in out and "[pay] Updating (t1)" in out
    assert "\r" not in out and "\x1b[" not in out  # CI=true: no live status line


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT semantics are POSIX")
def test_ctrl_c_reaches_every_running_cli_once_and_no_new_layer_starts(graph, tmp_path):
    released = tmp_path / "cancel-released"
    # pay's `up` runs next to app's until app's ends (it never does before the Ctrl-C): the Ctrl-C
    # finds both engines running, however slow the machine.
    graph.configure(hang="up mlapi-app", wait_for={"up mlapi-pay": ["ended", "up mlapi-app", 60]}, cancel_until=str(released))
    proc = start_driver(write_driver(tmp_path, graph=GRAPH))
    try:
        wait_until_ready(proc, graph.state_path)
        wait_until(proc, lambda: "pay" in started(graph, "up"), "pay's up started")
        interrupt_twice(proc, graph.state_path, tmp_path / "handled-signals", released)  # the second is not forwarded again
        out, err = proc.communicate(timeout=120)
    finally:
        released.write_text("")  # the stand-in (its own session) never goes on cancelling after a failure
        if proc.poll() is None:
            proc.kill()
    assert Path(str(graph.state_path) + ".sigint").read_text() == "1"
    assert proc.returncode == 130, err
    assert "asked every running Pulumi engine to cancel" in out
    # Which of the two running `up`s is reported first depends on timing; app's engine got exactly
    # one SIGINT (above) and waited for it.
    assert re.search(r"interrupted during `pulumi up[^`]*` of layer (app|pay)", err), err
    assert "cdn" not in {r["project"].removeprefix("mlapi-") for r in graph.calls("up")}
    assert "interrupted" in out[out.index("up-all t1: interrupted") :]


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT semantics are POSIX")
def test_ctrl_c_ends_a_parallel_down_all_waiting_to_retry_a_destroy(graph, tmp_path):
    # app's destroy fails and its worker thread waits an hour to retry: Ctrl-C (which only the main
    # thread receives) must end that wait, not leave the task sitting it out.
    run_task(tasks.up_all, env=ENV, region=REGION)
    # app's destroy fails only once pay (destroyed next to it) has removed its stack and 0.3 s more
    # (its process exits, its worker returns): when app says it waits, no CLI runs at all. Without
    # that, a Ctrl-C could land on pay's `stack rm` and be reported as interrupting it.
    graph.configure(
        fail={"destroy mlapi-app": {"times": -1, "message": "DependencyViolation: network interface in use"}},
        wait_for={"destroy mlapi-app": ["ended", "rm mlapi-pay", 30, 0.3]},
    )
    proc = start_driver(write_driver(tmp_path, graph=GRAPH, task="down_all", env=ENV, retry_delay=3600))
    try:
        assert proc.stdout is not None
        seen = []
        # Until the worker says it waits (its destroy has returned): then no CLI runs at all.
        while (line := proc.stdout.readline()) and "retrying in 3600s" not in line:
            seen.append(line)
        assert line, "".join(seen) + proc.communicate()[1]
        os.killpg(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=120)  # far less than the hour the retry would wait
        out = "".join(seen) + line + rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted while waiting to retry the destroy of layer app" in err
    assert graph.layers_of("destroy").count("app") == 1  # no retry ran
    assert not {"net", "db"} & set(graph.layers_of("destroy"))  # no layer started after Ctrl-C
    assert "down-all t1: interrupted" in out


def test_two_ctrl_cs_between_two_turns_of_the_parallel_loop_still_say_the_engines_were_asked_to_cancel(
    graph, monkeypatch, capsys
):
    """The main loop reports Ctrl-Cs on its next turn (it waits up to 0.25 s for a layer to end):
    two that arrive before it turns must still print the first notice, then the second's."""
    released = graph.root / "cancel-released"
    graph.configure(hang="up mlapi-app", cancel_until=str(released))
    handlers: list = []
    install = signal.signal

    def capture(signum, handler):
        if signum == signal.SIGINT and callable(handler):
            handlers.append(handler)
        return install(signum, handler)

    monkeypatch.setattr(signal, "signal", capture)
    ready = Path(f"{graph.state_path}.ready")

    called: list[str] = []

    def ctrl_c_twice() -> None:
        deadline = time.time() + 60
        while not ready.exists() and time.time() < deadline:
            time.sleep(0.01)
        if not ready.exists() or not handlers:
            return  # asserted below
        handler = handlers[-1]  # the handler the run installed, called as a signal would call it
        called.append(handler.__name__)
        handler(signal.SIGINT, None)
        handler(signal.SIGINT, None)
        released.write_text("")

    helper = threading.Thread(target=ctrl_c_twice)
    helper.start()
    try:
        exc = failing(tasks.up_all, env=ENV, region=REGION)
    finally:
        released.write_text("")
        helper.join()
    out = capsys.readouterr().out
    assert called == ["on_signal"], (called, out)  # the parallel loop's own handler, while app's up hung
    assert exc.code == 130
    first = out.index("interrupted: asked every running Pulumi engine to cancel")
    assert first < out.index("still waiting for the Pulumi engines to finish cancelling")
    assert Path(f"{graph.state_path}.sigint").read_text() == "1"


def test_a_ctrl_c_reaches_a_cli_run_in_process_once_and_its_cancel_is_waited_for(graph):
    """What the Ctrl-C drivers above prove with processes, for the in-process stand-in the other
    tests use: the main thread's interrupt_running reaches a worker's CLI as one SIGINT, however
    often it is called, and the run returns only after the engine has cancelled."""
    from shared.deploy import cli

    released = graph.root / "cancel-released"
    graph.configure(hang="up mlapi-net", cancel_until=str(released))
    environ = cli.child_environment(os.environ, cli.Backend((graph.root / "state").resolve().as_uri(), False))
    executable = cli.locate(environ)
    assert executable == str(graph.bin / "pulumi")
    lines: list[str] = []
    pulumi = cli.Pulumi(executable, environ, out=lines.append)
    cwd = str(graph.root / "stacks" / "net")
    assert pulumi.run(["stack", "select", "--create", "--stack", ENV, "--cwd", cwd, "--non-interactive"]).ok
    results: list[cli.Result] = []
    worker = threading.Thread(
        target=lambda: results.append(
            pulumi.run(["up", "--stack", ENV, "--cwd", cwd, "--non-interactive", "--yes"], prefix="net")
        )
    )
    cli.reset_interrupts()
    worker.start()
    try:
        ready = Path(f"{graph.state_path}.ready")
        deadline = time.time() + 60
        while not ready.exists() and worker.is_alive() and time.time() < deadline:
            time.sleep(0.02)
        assert ready.exists(), lines
        assert cli.interrupt_running() == 1
        # An impatient second Ctrl-C is not forwarded again. The stand-in is still cancelling (until
        # released, after the same grace as the process drivers): a SIGINT forwarded by the call or
        # shortly after would reach it and be counted.
        cli.interrupt_running()
        time.sleep(test_deploy.GRACE_AFTER_SECOND_CTRL_C)
        assert worker.is_alive()
        released.write_text("")
        worker.join(timeout=60)
    finally:
        released.write_text("")  # never leave the stand-in cancelling (and the worker waiting) after a failure
        cli.reset_interrupts()
        worker.join()
    assert Path(f"{graph.state_path}.sigint").read_text() == "1"
    (result,) = results
    assert result.interrupted and result.code == 255 and "update canceled" in result.text
    assert "[net] ^C received; cancelling the update and waiting for operations in flight" in lines
    assert graph.inproc is not None and graph.inproc.runs[-1].returncode == 255


def test_a_wait_in_a_worker_thread_ends_when_the_run_is_interrupted():
    from shared.deploy import cli, orchestrator

    raised: list[BaseException] = []

    def wait_an_hour() -> None:
        try:
            orchestrator._interruptible_sleep(3600)
        except KeyboardInterrupt as exc:
            raised.append(exc)

    worker = threading.Thread(target=wait_an_hour)
    worker.start()
    try:
        cli.interrupt_running()
        worker.join(timeout=60)
        assert not worker.is_alive() and len(raised) == 1
    finally:
        cli.reset_interrupts()
        worker.join()


def test_a_spurious_pulumi_cloud_404_is_retried():
    from shared.deploy import cli

    spurious = cli.Result(["up"], 255, "", "error: [404] Not found: Stack 'org/mlapi-app/t1' not found")
    assert cli.transient_cloud_error(spurious)
    assert not cli.transient_cloud_error(cli.Result(["up"], 255, "", "error: creating VPC: 404 NoSuchEntity"))


# -- the parallel offline plan ---------------------------------------------------------------------------


def test_the_parallel_plan_is_byte_identical_to_the_serial_one_and_logs_through_the_caller(default_plan, caplog, capfd):
    import logging

    with caplog.at_level(logging.WARNING):
        parallel = build_plan("demo", "us-east-1", parallel=True)
    assert [lp.layer.name for lp in parallel.layers] == [lp.layer.name for lp in default_plan.layers]
    assert json.dumps(parallel.document(), sort_keys=True) == json.dumps(default_plan.document(), sort_keys=True)
    # What a layer process logs travels back with its result and is logged by the caller: a
    # forkserver child (no logging set up) wrote it to the real stderr, where the compliance check's
    # quiet second rendering could not silence it.
    sample = [r for r in caplog.records if "using the SAMPLE domain" in r.getMessage()]
    assert len(sample) == 1 and sample[0].levelno == logging.WARNING
    assert "SAMPLE" not in capfd.readouterr().err


def test_a_layer_process_error_reaches_the_caller_as_the_same_error():
    with pytest.raises(ConfigError, match="vpcCidr"):
        build_plan("demo", "us-east-1", parallel=True, overrides={"network": {"vpcCidr": "10.0.0.0/33"}})
    # The other layers' processes were stopped, not left rendering (or waited for).
    assert [p.name for p in multiprocessing.active_children() if p.name.startswith("plan-")] == []


def test_each_layer_process_preloads_every_class_its_render_declares_and_not_other_layers(default_plan):
    # What a layer process imports ahead (and what the split is estimated from) comes from the
    # layer's sources and the shared/ modules they import: it must name every resource class the
    # layer's program declares (aws:ec2/vpc:Vpc -> pulumi_aws.ec2 Vpc), or that import would land
    # on the render's critical path unestimated.
    for lp in default_plan.layers:
        named = set(layer_classes(lp.layer))
        declared = {
            (f"pulumi_aws.{r.type.split(':')[1].split('/')[0]}", r.type.rsplit(":", 1)[1])
            for r in lp.rendered.registrations
            if r.type.startswith("aws:")
        }
        assert declared <= named, (lp.layer.name, sorted(declared - named))
    modules = {lyr.name: {module for module, _ in layer_classes(lyr)} for lyr in manifest.LAYERS}
    assert "pulumi_aws.cloudfront" not in modules["network"] and "pulumi_aws.wafv2" not in modules["data"]
    # Through shared/service (compute and payments compose the same service components).
    assert ("pulumi_aws.ecs", "Service") in set(layer_classes(manifest.by_name("payments")))


def test_a_bad_value_in_a_file_is_reported_by_the_parallel_plan_with_that_file(tmp_path, monkeypatch):
    # The layer processes are fresh interpreters: they see the environment file only through the
    # config the calling process read (patched here, as a user's file would be), and the error
    # crosses the process boundary with the file it names.
    from shared import stack_config

    monkeypatch.setattr(stack_config, "ENVIRONMENTS_DIR", tmp_path)
    (tmp_path / "e1.yaml").write_text("protect: maybe\n")
    layers = (manifest.by_name("network"), manifest.by_name("data"))
    with pytest.raises(ConfigError) as serial:
        build_plan("e1", "us-east-1", layers=layers)
    with pytest.raises(ConfigError) as parallel:
        build_plan("e1", "us-east-1", layers=layers, parallel=True)
    assert (
        str(parallel.value)
        == str(serial.value)
        == f"Invalid setting protect = 'maybe' in {tmp_path / 'e1.yaml'}: must be true or false."
    )
    assert parallel.value.origin == str(tmp_path / "e1.yaml")


@dataclasses.dataclass(frozen=True)
class _LayerElsewhere(manifest.Layer):
    """A layer whose directory is outside stacks/ (a layer process unpickles it by this module's name)."""

    root: str = ""

    @property
    def directory(self) -> Path:
        return Path(self.root)


def test_a_layer_process_failing_while_it_imports_stops_the_plan_with_its_own_error(tmp_path):
    # `broken` fails at import, long before network (which it reads) has rendered: the plan stops
    # with that error (not a broken pipe to the dead process), and no layer process is left behind.
    package = tmp_path / "mlapi_broken"
    package.mkdir()
    (package / "__init__.py").write_text('raise RuntimeError("mlapi_broken cannot be imported")\n')
    (tmp_path / "__main__.py").write_text("import mlapi_broken\n")
    (tmp_path / "Pulumi.yaml").write_text("name: mlapi-broken\nruntime: python\n")
    broken = _LayerElsewhere("broken", reads=("network",), owns="nothing", root=str(tmp_path))
    with pytest.raises(RuntimeError, match="mlapi_broken cannot be imported"):
        build_plan("demo", "us-east-1", layers=(manifest.by_name("network"), broken), parallel=True)
    assert [p.name for p in multiprocessing.active_children() if p.name.startswith("plan-")] == []
