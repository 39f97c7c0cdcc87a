"""The manifest, the output contract, stack references and each layer's documented config."""

from __future__ import annotations

import pytest
import yaml

from shared import contracts, manifest, wiring
from shared.config import ConfigReader
from shared.references import Upstream, stack_reference_name
from shared.runtime import offline_plan
from shared.settings import ENVIRONMENT_KEYS, EnvironmentSettings
from shared.stack_config import project_config_schema


def test_manifest_order_puts_every_layer_after_what_it_reads():
    order = [lyr.name for lyr in manifest.ordered()]
    for layer in manifest.LAYERS:
        for upstream in layer.reads:
            assert order.index(upstream) < order.index(layer.name)


def test_manifest_rejects_cycles_and_unknown_layers():
    a = manifest.Layer("a", ("b",), "")
    b = manifest.Layer("b", ("a",), "")
    with pytest.raises(ValueError, match="cycle"):
        manifest.ordered((a, b))
    with pytest.raises(ValueError, match="unknown"):
        manifest.ordered((manifest.Layer("c", ("zzz",), ""),))


@pytest.mark.parametrize("layer", manifest.LAYERS, ids=lambda lyr: lyr.name)
def test_each_layer_is_completely_wired(layer):
    """Contract, settings class, program, Pulumi.yaml name, virtualenv and environment-wide keys."""
    problems = wiring.problems(layer)
    assert not problems, f"layer {layer.name} is not completely wired (see docs/adding-a-layer.md):\n- " + "\n- ".join(problems)


@pytest.mark.parametrize("layer", manifest.LAYERS, ids=lambda lyr: lyr.name)
def test_each_layer_runs_on_the_root_virtualenv_with_its_declared_settings(layer):
    project = yaml.safe_load((layer.directory / "Pulumi.yaml").read_text())
    venv = (layer.directory / project["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (manifest.REPO_ROOT / ".venv").resolve()
    assert layer.settings_class().__module__ == f"{layer.package}.settings"


def _half_wired_layer(tmp_path, monkeypatch, *, pulumi_yaml: dict, settings: str) -> manifest.Layer:
    """A layer named `extra` under tmp_path/stacks, wired only as far as the arguments say."""
    monkeypatch.setattr(manifest, "STACKS_DIR", tmp_path / "stacks")
    directory = tmp_path / "stacks" / "extra"
    (directory / "mlapi_extra").mkdir(parents=True)
    (directory / "mlapi_extra" / "__init__.py").write_text("")
    (directory / "mlapi_extra" / "settings.py").write_text(
        "class ExtraSettings:\n    @classmethod\n    def load(cls, reader=None, env=None):\n        return cls()\n"
    )
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(pulumi_yaml))
    return manifest.Layer("extra", ("network",), "", settings=settings)


def test_wiring_names_every_gap_of_a_half_wired_layer(tmp_path, monkeypatch):
    layer = _half_wired_layer(
        tmp_path,
        monkeypatch,
        pulumi_yaml={"name": "mlapi-extra", "runtime": {"name": "python", "options": {"virtualenv": "venv"}}, "config": {}},
        settings="",
    )
    text = "\n".join(wiring.problems(layer))
    assert "no output contract: add CONTRACTS['extra']" in text
    assert "no settings class" in text and "settings='mlapi_extra.settings:<SettingsClass>'" in text
    assert "__main__.py is missing" in text
    assert "virtualenv: ../../.venv" in text and "found virtualenv 'venv'" in text
    for key in ENVIRONMENT_KEYS:
        assert f"environment-wide key {key!r}" in text


def test_wiring_accepts_the_same_layer_once_it_is_complete(tmp_path, monkeypatch):
    network_yaml = yaml.safe_load((manifest.by_name("network").directory / "Pulumi.yaml").read_text())
    env_block = {key: network_yaml["config"][key] for key in ENVIRONMENT_KEYS}
    layer = _half_wired_layer(
        tmp_path,
        monkeypatch,
        pulumi_yaml={"name": "mlapi-extra", "runtime": network_yaml["runtime"], "config": env_block},
        settings="mlapi_extra.settings:ExtraSettings",
    )
    (layer.directory / "__main__.py").write_text("")
    monkeypatch.setitem(contracts.CONTRACTS, "extra", {"thing": "A thing."})
    assert wiring.problems(layer) == []
    # A settings entry that names nothing loadable is reported, not guessed around.
    broken = manifest.Layer("extra", (), "", settings="mlapi_extra.settings:Missing")
    assert wiring.problems(broken) == [
        "'mlapi_extra.settings:Missing' is not a class with a load() classmethod; declare it in shared/manifest.py as "
        "Layer('extra', ..., settings='mlapi_extra.settings:<SettingsClass>') (see docs/adding-a-layer.md)"
    ]


@pytest.mark.parametrize("layer", manifest.LAYERS, ids=lambda lyr: lyr.name)
def test_every_key_a_layer_reads_is_documented_with_the_same_default(layer):
    reader = ConfigReader(layer.project, {}.get)
    env = EnvironmentSettings.load(
        layer.name, reader, project=layer.project, stack="doc", aws_lookup={"region": "us-east-1"}.get, environ={}
    )
    # As the offline plan renders them: a real run refuses the documented sample settings some
    # layers ship as defaults (the edge layer's domain), and this test reads only the defaults.
    with offline_plan():
        layer.settings_class().load(reader, env=env)
    schema = project_config_schema(layer)
    for key, default in reader.read.items():
        assert key in schema, f"{layer.project}:{key} is read but not documented in Pulumi.yaml"
        assert schema[key].get("description"), key
        if key in ENVIRONMENT_KEYS:
            continue
        documented = schema[key].get("default")
        if isinstance(default, (list, tuple)):
            assert [str(x) for x in documented] == [str(x) for x in default], key
        else:
            assert documented == default, f"{key}: Pulumi.yaml default {documented!r} != code default {default!r}"
    undocumented_in_code = set(schema) - set(reader.read)
    assert not undocumented_in_code, f"documented but never read: {undocumented_in_code}"


def test_contract_check_reports_missing_and_undeclared_names():
    with pytest.raises(ValueError, match=r"missing \['vpcCidr'.*undeclared \['bogus'\]"):
        contracts.check("network", {**{k: 1 for k in contracts.CONTRACTS["network"] if k != "vpcCidr"}, "bogus": 1})


def test_stack_reference_names_are_fully_qualified():
    assert stack_reference_name("organization", "network", "demo") == "organization/mlapi-network/demo"
    assert stack_reference_name("acme", "network", "pr-7") == "acme/mlapi-network/pr-7"


def test_upstream_refuses_unlisted_layers_and_undeclared_outputs():
    from shared.plan.engine import render_program

    errors: list[str] = []

    def program():
        env = EnvironmentSettings.load("network", project="mlapi-network", stack="t")
        try:
            Upstream(env, "network")
        except ValueError as exc:
            errors.append(str(exc))

    render_program(program, project="mlapi-network", stack="t", region="us-east-1")
    assert errors and "does not list" in errors[0]

    refused: list[str] = []

    def reader():
        env = EnvironmentSettings.load("data", project="mlapi-data", stack="t")
        network = Upstream(env, "network")  # data reads network: allowed
        network.require("vpcId")
        try:
            network.require("clusterEndpoint")  # declared by data, not by network
        except ValueError as exc:
            refused.append(str(exc))

    render_program(
        reader,
        project="mlapi-data",
        stack="t",
        region="us-east-1",
        stack_outputs={"organization/mlapi-network/t": {"vpcId": "vpc-1"}},
    )
    assert refused == ["layer network does not export 'clusterEndpoint' (see shared/contracts.py)"]


@pytest.mark.parametrize("layer", [lyr for lyr in manifest.LAYERS if lyr.reads], ids=lambda lyr: lyr.name)
def test_what_each_layer_reads_is_in_its_upstream_contract(layer, default_plan):
    """Every require_output call a layer's program makes names an output its upstream declares."""
    lp = next(p for p in default_plan.layers if p.layer.name == layer.name)
    for ref in lp.rendered.of_type("pulumi:pulumi:StackReference"):
        upstream = ref.name.split("/")[1].removeprefix("mlapi-")
        assert upstream in layer.reads
    source = "\n".join(p.read_text() for p in layer.directory.rglob("*.py"))
    import re

    for name in re.findall(r"\.require(?:_int)?\(\"(\w+)\"\)", source):
        assert any(name in contracts.CONTRACTS[u] for u in layer.reads), f"{layer.name} reads {name}"
