"""The manifest, the output contract, stack references and each layer's documented config."""

from __future__ import annotations

import pytest
import yaml

from shared import contracts, manifest
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
def test_each_layer_is_its_own_pulumi_project_on_the_root_virtualenv(layer):
    project = yaml.safe_load((layer.directory / "Pulumi.yaml").read_text())
    assert project["name"] == layer.project
    assert project["runtime"]["name"] == "python"
    venv = (layer.directory / project["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (manifest.REPO_ROOT / ".venv").resolve()
    assert (layer.directory / "__main__.py").exists()
    assert layer.name in contracts.CONTRACTS


@pytest.mark.parametrize("layer", manifest.LAYERS, ids=lambda lyr: lyr.name)
def test_every_environment_key_is_documented_in_every_layer(layer):
    schema = project_config_schema(layer)
    for key, (default, _) in ENVIRONMENT_KEYS.items():
        assert key in schema, f"{layer.project} Pulumi.yaml lacks {key}"
        assert schema[key].get("description")
        documented = schema[key].get("default")
        assert documented == ("" if default is None else default)


def _layer_settings_loader(layer: manifest.Layer):
    import importlib

    module = importlib.import_module(f"mlapi_{layer.name}.settings")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and value.__name__.endswith("Settings")
            and hasattr(value, "load")
            and value.__module__ == module.__name__
        ):
            return value
    raise AssertionError(f"no settings class in mlapi_{layer.name}.settings")


@pytest.mark.parametrize("layer", manifest.LAYERS, ids=lambda lyr: lyr.name)
def test_every_key_a_layer_reads_is_documented_with_the_same_default(layer):
    reader = ConfigReader(layer.project, {}.get)
    env = EnvironmentSettings.load(
        layer.name, reader, project=layer.project, stack="doc", aws_lookup={"region": "us-east-1"}.get, environ={}
    )
    # As the offline plan renders them: a real run refuses the documented sample settings some
    # layers ship as defaults (the edge layer's domain), and this test reads only the defaults.
    with offline_plan():
        _layer_settings_loader(layer).load(reader, env=env)
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
