"""Settings: every bad input gives a ConfigError naming the setting, the value and what is allowed."""

from __future__ import annotations

import pytest

from shared.config import ConfigReader
from shared.errors import ConfigError
from shared.naming import MAX_SUFFIX_LENGTH, Namer, validate_suffix
from shared.settings import EnvironmentSettings, validate_region


def env_settings(config=None, *, stack="demo", region="us-east-1", environ=None):
    config = dict(config or {})
    reader = ConfigReader("mlapi-network", config.get)
    return EnvironmentSettings.load(
        "network",
        reader,
        project="mlapi-network",
        stack=stack,
        aws_lookup={"region": region}.get,
        environ=environ or {},
    )


@pytest.mark.parametrize(
    "suffix",
    ["Demo", "1demo", "demo-", "de--mo", "de_mo", "", "a" * (MAX_SUFFIX_LENGTH + 1), "demo.1", "démo"],
)
def test_bad_suffix_is_refused_with_the_rule(suffix):
    with pytest.raises(ConfigError) as err:
        validate_suffix(suffix)
    message = str(err.value)
    assert "environmentSuffix" in message
    assert "lowercase letters" in message and str(MAX_SUFFIX_LENGTH) in message


@pytest.mark.parametrize("suffix", ["d", "demo", "pr-123", "a1-b2-c3", "x" * MAX_SUFFIX_LENGTH])
def test_good_suffixes_pass(suffix):
    assert validate_suffix(suffix) == suffix


def test_max_suffix_keeps_alb_and_target_group_names_within_32():
    namer = Namer("x" * MAX_SUFFIX_LENGTH)
    assert len(namer.name("alb", kind="alb")) <= 32
    assert len(namer.name("tg", kind="target-group")) <= 32
    with pytest.raises(ValueError):
        namer.name("loadbalancer", kind="alb")


def test_suffix_precedence_config_then_env_var_then_stack():
    assert env_settings({"environmentSuffix": "fromcfg"}, environ={"ENVIRONMENT_SUFFIX": "fromenv"}).suffix == "fromcfg"
    assert env_settings({}, environ={"ENVIRONMENT_SUFFIX": "fromenv"}).suffix == "fromenv"
    assert env_settings({}, stack="fromstack").suffix == "fromstack"


def test_bad_stack_name_as_suffix_names_the_stack():
    with pytest.raises(ConfigError, match="stack name"):
        env_settings({}, stack="Prod_Stack")


def test_bad_suffix_from_environment_variable_names_the_variable():
    with pytest.raises(ConfigError, match="ENVIRONMENT_SUFFIX"):
        env_settings({}, environ={"ENVIRONMENT_SUFFIX": "BAD"})


@pytest.mark.parametrize("region", ["mars-1", "US-EAST-1", "", None, "us-east-9"])
def test_bad_region_is_refused(region):
    with pytest.raises(ConfigError, match="aws:region"):
        env_settings(region=region)


def test_region_is_never_defaulted_to_a_literal():
    with pytest.raises(ConfigError, match=r"\(not set\)"):
        validate_region(None)


def test_tag_settings_from_config_or_environment():
    s = env_settings({"team": "ml-platform"}, environ={"COST_CENTER": "cc-42"})
    assert (s.team, s.cost_center, s.repository) == ("ml-platform", "cc-42", "mlapi-platform")
    with pytest.raises(ConfigError, match="mlapi-network:team"):
        env_settings({"team": "bad<tag>"})
    # A value from the environment is validated too, and the error names the variable.
    with pytest.raises(ConfigError, match="Invalid setting TEAM = 'bad<tag>'"):
        env_settings({}, environ={"TEAM": "bad<tag>"})


def test_environment_variables_reach_a_real_run_through_the_pulumi_yaml_defaults():
    """A real run (and the plan) sees every key's Pulumi.yaml default: those defaults are empty for
    the keys with an environment fallback, or the variable could never take effect."""
    from shared import manifest
    from shared.stack_config import assemble

    layer = manifest.by_name("network")
    values = assemble(layer, "demo", overrides={"aws:region": "us-east-1"}).values
    reader = ConfigReader(layer.project, lambda key: values.get(f"{layer.project}:{key}"))

    def load(environ):
        return EnvironmentSettings.load(
            "network", reader, project=layer.project, stack="demo", aws_lookup={"region": "us-east-1"}.get, environ=environ
        )

    s = load({"TEAM": "ml-platform", "COST_CENTER": "cc-42", "REPOSITORY": "ml-infra", "PULUMI_ORG": "acme"})
    assert (s.team, s.cost_center, s.repository, s.pulumi_org) == ("ml-platform", "cc-42", "ml-infra", "acme")
    s = load({})
    assert (s.team, s.cost_center, s.repository, s.pulumi_org) == ("platform", "unassigned", "mlapi-platform", "organization")


def test_protect_must_be_a_boolean():
    assert env_settings({"protect": "true"}).protect is True
    assert env_settings({}).protect is False
    # Config only: an environment variable never protects or unprotects an environment.
    assert env_settings({}, environ={"MLAPI_PROTECT": "true", "PROTECT": "true"}).protect is False
    with pytest.raises(ConfigError, match="true or false"):
        env_settings({"protect": "sometimes"})


def test_decommission_lifts_deletion_guards_but_keeps_data_only_in_a_protected_environment():
    ephemeral = env_settings({})
    assert (ephemeral.decommission, ephemeral.blocks_deletion, ephemeral.keeps_data) == (False, False, False)
    protected = env_settings({"protect": "true"})
    assert (protected.decommission, protected.blocks_deletion, protected.keeps_data) == (False, True, True)
    decommissioning = env_settings({"protect": "true", "decommission": "true"})
    assert (decommissioning.decommission, decommissioning.blocks_deletion, decommissioning.keeps_data) == (True, False, True)
    # Neither is ever taken from the environment.
    assert env_settings({"protect": "true"}, environ={"MLAPI_DECOMMISSION": "true"}).decommission is False


@pytest.mark.parametrize("config", [{"decommission": "true"}, {"protect": "false", "decommission": "true"}])
def test_decommission_without_protect_is_refused_with_what_is_allowed(config):
    with pytest.raises(ConfigError) as err:
        env_settings(config)
    assert err.value.setting == "mlapi-network:decommission"
    message = str(err.value)
    assert "= 'true'" in message and "only in a protected environment (protect: true)" in message
    assert "set `protect: true`" in message


def test_decommission_must_be_a_boolean():
    with pytest.raises(ConfigError, match=r"mlapi-network:decommission = 'soon'.*true or false"):
        env_settings({"protect": "true", "decommission": "soon"})


@pytest.mark.parametrize(
    "method,args,value,expected",
    [
        ("integer", (8080,), "80x", "whole number"),
        ("integer", (8080,), "70000", "from 1 to 65535"),
        ("cidr", ("10.0.0.0/16",), "10.0.0.0/8", "/16 to /24"),
        ("cidr", ("10.0.0.0/16",), "10.0.1.0/16", "CIDR"),
        ("cidr", ("10.0.0.0/16",), "banana", "CIDR"),
        ("log_retention", (30,), "31", "retention periods"),
        ("choice", ("a", ("a", "b")), "c", "allowed values are a, b"),
        ("number", (0.5,), "0.7", "steps of 0.5"),
    ],
)
def test_reader_errors_name_key_value_and_rule(method, args, value, expected):
    reader = ConfigReader("mlapi-x", {"k": value}.get)
    kwargs = {"minimum": 1, "maximum": 65535} if method == "integer" else {}
    if method == "cidr":
        kwargs = {"min_prefix": 16, "max_prefix": 24}
    if method == "number":
        kwargs = {"minimum": 0.0, "maximum": 256.0, "step": 0.5}
    with pytest.raises(ConfigError) as err:
        getattr(reader, method)("k", *args, **kwargs)
    assert "mlapi-x:k" in str(err.value) and value in str(err.value) and expected in str(err.value)


def test_config_error_is_a_pulumi_run_error_so_pulumi_prints_no_traceback():
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)


def test_layer_selection_defaults_to_every_layer_and_keeps_manifest_order():
    from shared import manifest

    assert env_settings().layers == tuple(layer.name for layer in manifest.LAYERS)
    assert env_settings({"layers": '["data", "network"]'}).layers == ("network", "data")
    assert env_settings({"layers": '["network"]'}).has_layer("network")
    assert not env_settings({"layers": '["network"]'}).has_layer("data")


def test_a_selection_that_drops_a_layer_another_reads_is_refused_naming_both():
    with pytest.raises(ConfigError) as err:
        env_settings({"layers": '["network", "compute"]'})
    message = str(err.value)
    assert "mlapi-network:layers" in message
    assert "compute reads data" in message


def test_an_unknown_layer_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"'netwrk'.*the layers are network, data"):
        env_settings({"layers": '["netwrk"]'})


def test_extra_tags_reach_every_resource_after_the_platform_tags():
    from shared.tags import default_tags

    env = env_settings({"tags": '{"DataClassification": "confidential", "Owner": "ml@example.com"}'})
    tags = default_tags(env, {"compliance": "pci-dss", "Environment": "sneaky"})
    assert tags["DataClassification"] == "confidential" and tags["Owner"] == "ml@example.com"
    assert tags["compliance"] == "pci-dss"
    # A layer's own tags never replace the platform's.
    assert tags["Environment"] == "demo"


@pytest.mark.parametrize(
    ("tags", "shown"),
    [
        ('{"aws:owner": "x"}', "aws:owner"),
        ('{"Environment": "prod"}', "Environment"),
        ('{"k": "bad#value"}', "bad#value"),
        ('{"' + "k" * 129 + '": "v"}', "k" * 129),
        ('["not", "a", "map"]', "not"),
        ("{not json", "{not json"),
    ],
)
def test_bad_extra_tags_are_refused_with_aws_tag_rules(tags, shown):
    with pytest.raises(ConfigError) as err:
        env_settings({"tags": tags})
    message = str(err.value)
    assert "mlapi-network:tags" in message and shown in message
    assert "keys 1-128" in message
