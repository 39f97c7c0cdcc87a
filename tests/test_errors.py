"""Bad configurations as a new user writes them: each ends in one paragraph naming where it is wrong."""

from __future__ import annotations

import sys

import pytest
from invoke import Context, Exit

from shared import manifest, stack_config
from shared.errors import ConfigError, PlatformError, quote
from shared.plan.document import build_plan

ROOT = manifest.REPO_ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tasks.py lives at the repository root
import tasks  # noqa: E402

NETWORK = (manifest.by_name("network"),)


@pytest.fixture
def environments(tmp_path, monkeypatch):
    """An empty environments/ directory the tasks and the plan read instead of the repository's."""
    monkeypatch.setattr(stack_config, "ENVIRONMENTS_DIR", tmp_path)
    return tmp_path


def fake_layer(tmp_path, monkeypatch, pulumi_yaml: str, stack_yaml: str | None = None) -> manifest.Layer:
    monkeypatch.setattr(manifest, "STACKS_DIR", tmp_path / "stacks")
    directory = tmp_path / "stacks" / "extra"
    directory.mkdir(parents=True)
    (directory / "Pulumi.yaml").write_text(pulumi_yaml)
    if stack_yaml is not None:
        (directory / "Pulumi.e1.yaml").write_text(stack_yaml)
    return manifest.Layer("extra", (), "", settings="")


def test_yaml_syntax_error_in_the_environment_file_names_file_and_line(environments):
    (environments / "e1.yaml").write_text("protect: true\ntags: [a\nteam: x\n")
    with pytest.raises(PlatformError) as caught:
        build_plan("e1", "us-east-1", layers=NETWORK)
    message = str(caught.value)
    assert "e1.yaml, line 3, column 5 is not valid YAML: expected ',' or ']', but got ':'" in message
    assert "(while parsing a flow sequence that starts at line 2)" in message
    assert "\n" not in message and "<unicode string>" not in message


def test_yaml_syntax_errors_in_stack_file_and_pulumi_yaml_name_file_and_line(tmp_path, monkeypatch):
    layer = fake_layer(tmp_path, monkeypatch, "name: mlapi-extra\nconfig: {}\n", 'config:\n  mlapi-extra:x: "open\n')
    with pytest.raises(
        PlatformError, match=r"stacks/extra/Pulumi.e1.yaml, line 3, column 1 is not valid YAML: found unexpected end"
    ):
        stack_config.assemble(layer, "e1")
    (layer.directory / "Pulumi.yaml").write_text("name: mlapi-extra\nconfig:\n  a: 1\n b: 2\n")
    with pytest.raises(PlatformError, match=r"stacks/extra/Pulumi.yaml, line 4, column 2 is not valid YAML"):
        stack_config.project_config_schema(layer)


def test_a_bad_value_in_the_environment_file_names_that_file_and_key(environments):
    (environments / "e1.yaml").write_text("protect: maybe\n")
    with pytest.raises(ConfigError) as caught:
        build_plan("e1", "us-east-1", layers=NETWORK)
    assert str(caught.value) == f"Invalid setting protect = 'maybe' in {environments / 'e1.yaml'}: must be true or false."
    assert "mlapi-network" not in str(caught.value)


def test_a_bad_tag_in_the_environment_file_names_the_file_and_the_tag(environments):
    (environments / "e1.yaml").write_text("tags:\n  Owner: 'a|b'\n")
    with pytest.raises(ConfigError, match=r"Invalid setting tags.Owner = 'a\|b' in .*e1.yaml: a map of at most 30 tags"):
        build_plan("e1", "us-east-1", layers=NETWORK)


def test_a_bad_value_from_defaults_or_flags_keeps_the_setting_name():
    # No file set it: the message names the setting as the layer reads it.
    with pytest.raises(ConfigError, match=r"^Invalid setting mlapi-network:vpcCidr = '10.0.0.0/8': "):
        build_plan("e1", "us-east-1", layers=NETWORK, overrides={"network": {"vpcCidr": "10.0.0.0/8"}})


def test_a_key_that_belongs_in_a_stack_file_is_refused_from_the_environment_file(environments):
    (environments / "e1.yaml").write_text("vpcCidr: 10.1.0.0/16\n")
    with pytest.raises(ConfigError) as caught:
        build_plan("e1", "us-east-1", layers=NETWORK)
    message = str(caught.value)
    assert message.startswith(
        f"Invalid setting vpcCidr = '10.1.0.0/16' in {environments / 'e1.yaml'}: environment files hold only"
    )
    assert "Layer settings belong in stacks/<layer>/Pulumi.e1.yaml." in message


def test_plan_and_check_refuse_a_suffix_other_than_env_as_pre_flight_does(environments, tmp_path):
    (environments / "e1.yaml").write_text("environmentSuffix: prod\n")
    out = tmp_path / "plan.json"
    for run in (
        lambda: tasks.plan(Context(), env="e1", region="us-east-1", out=str(out), quiet=True),
        lambda: tasks.check(Context(), env="e1", region="us-east-1", quiet=True),
    ):
        with pytest.raises(Exit) as caught:
            run()
        assert caught.value.code == 2
        message = str(caught.value.message)
        assert "environmentSuffix is 'prod' (" in message and "e1.yaml) but the stack is 'e1'" in message
        assert "never share a resource name" in message and "--env prod" in message
    assert not out.exists()


def test_the_suffix_equal_to_env_is_accepted(environments):
    (environments / "e1.yaml").write_text("environmentSuffix: e1\n")
    plan = build_plan("e1", "us-east-1", layers=NETWORK)
    assert plan.layers[0].rendered.outputs["flowLogGroupName"] == "/mlapi/e1/vpc-flow-logs"


@pytest.mark.parametrize(
    "value, shown", [("text", "'text'"), (True, "true"), (False, "false"), (3, "3"), (["a"], "['a']"), ({"k": 1}, "{'k': 1}")]
)
def test_values_are_quoted_the_same_way_everywhere(value, shown):
    assert quote(value) == shown
    assert f"= {shown}:" in str(ConfigError("x", value, "y"))


def test_a_render_failing_on_a_user_mistake_reports_it_once_not_once_per_output(caplog, monkeypatch):
    """A payments layer reading a network stack without its groups fails in an apply; every output
    depending on it is left failed with the same error. asyncio used to print "Future exception was
    never retrieved" with a traceback for each (about a thousand per render) once they were
    collected: in a test run, in the middle of other tests' output."""
    import gc

    from test_payments import render_payments

    from shared.plan import engine

    dropped: list[object] = []
    quiet = engine._quiet_reported_errors

    def counting(loop, context):
        dropped.append(context.get("exception"))
        quiet(loop, context)

    monkeypatch.setattr(engine, "_quiet_reported_errors", counting)
    loop = engine._ensure_event_loop()
    monkeypatch.setattr(loop, "get_exception_handler", lambda: None)  # installed again, as the counting one
    # The runtime keeps the last two programs' state reachable: the third render frees the first.
    for _ in range(3):
        with pytest.raises(PlatformError, match="exports no payments"):
            render_payments(
                network={"paymentsAlbSecurityGroupId": "", "paymentsServiceSecurityGroupId": "", "paymentsServicePort": 0}
            )
    gc.collect()
    loop.set_exception_handler(quiet)  # the engine's own again, for the tests after this one
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert dropped, "nothing reached the handler: the test no longer shows what it guards"


def test_the_render_loop_silences_only_the_errors_a_render_reports(monkeypatch):
    import asyncio
    from unittest import mock

    from shared.plan import engine
    from shared.plan.engine import _quiet_reported_errors

    loop = mock.Mock(spec=asyncio.AbstractEventLoop)
    message = "Future exception was never retrieved"
    # Before any render has failed on a user's mistake, nothing is dropped.
    monkeypatch.setattr(engine, "_FAILED_ON_USER_ERROR", False)
    context = {"message": message, "exception": PlatformError("not from a failed render")}
    _quiet_reported_errors(loop, context)
    loop.default_exception_handler.assert_called_with(context)
    loop.reset_mock()
    monkeypatch.setattr(engine, "_FAILED_ON_USER_ERROR", True)
    for exc in (PlatformError("reported"), ConfigError("--env", "x", "a suffix")):
        _quiet_reported_errors(loop, {"message": message, "exception": exc})
    assert not loop.default_exception_handler.called
    for context in (
        {"message": message, "exception": ValueError("a bug")},
        {"message": "Task was destroyed but it is pending!"},
        {"message": "unhandled error in a callback", "exception": PlatformError("not a leftover")},
    ):
        _quiet_reported_errors(loop, context)
        loop.default_exception_handler.assert_called_with(context)


@pytest.mark.parametrize("leftover_seconds", [None, 0.0], ids=["finished", "cancelled"])
def test_a_render_that_fails_halfway_leaves_nothing_for_the_next_render_in_the_process(leftover_seconds, monkeypatch):
    # A program failing on a user mistake in an apply leaves hundreds of outputs and registrations
    # unfinished. They were kept with the runtime's settings (MockSettings keeps the output set)
    # and ran in the next render, registering the failed program's resources with that render's
    # monitor; the test suite saw them as flakes.
    from test_payments import render_payments

    from shared.plan import engine

    if leftover_seconds is not None:  # no time to finish: the leftovers are cancelled, and must not be awaited next
        monkeypatch.setattr(engine, "LEFTOVER_SECONDS", leftover_seconds)
    with pytest.raises(PlatformError, match="exports no payments"):
        render_payments(
            network={"paymentsAlbSecurityGroupId": "", "paymentsServiceSecurityGroupId": "", "paymentsServicePort": 0}
        )
    registered: dict[str, dict[str, list[str]]] = {}
    with pytest.raises(ConfigError, match="cpuTargetPercent"):
        render_payments({"cpuTargetPercent": 0}, options=registered)
    assert registered and all("::pulumi:pulumi:Stack::" in urn for urn in registered), sorted(registered)[:3]
