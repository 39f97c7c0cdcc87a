"""Generated documentation: committed blocks match their sources, and every layer is included."""

from __future__ import annotations

import pytest
import yaml

from shared import contracts, docs, manifest
from shared.errors import PlatformError


def test_committed_documentation_matches_its_sources():
    stale = docs.stale()
    assert not stale, (
        f"{', '.join(stale)} differ from shared/contracts.py, shared/manifest.py or a Pulumi.yaml: run `invoke docs`"
    )


def test_a_changed_contract_makes_the_readme_stale(monkeypatch):
    monkeypatch.setitem(contracts.CONTRACTS, "network", {**contracts.CONTRACTS["network"], "newOutput": "A new output."})
    assert "README.md" in docs.stale()
    text = (manifest.REPO_ROOT / "README.md").read_text()
    assert "| `newOutput` | A new output. |" in docs.render(text, source="README.md")


def test_a_new_layer_appears_in_every_generated_block(tmp_path, monkeypatch):
    network = manifest.by_name("network")
    schema = yaml.safe_load((network.directory / "Pulumi.yaml").read_text())
    monkeypatch.setattr(manifest, "STACKS_DIR", tmp_path)
    (tmp_path / "extra").mkdir()
    env_block = {key: spec for key, spec in schema["config"].items() if key in docs.ENVIRONMENT_KEYS}
    own = {"widgetCount": {"type": "integer", "default": 3, "description": "Widgets | per task."}}
    (tmp_path / "extra" / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "mlapi-extra", "config": {**env_block, **own}}))
    extra = manifest.Layer("extra", (), "widgets", settings="mlapi_extra.settings:ExtraSettings")
    monkeypatch.setitem(contracts.CONTRACTS, "extra", {"widgetArn": "ARN of the widget."})
    text = (
        "<!-- generated: layers (x) -->\n<!-- end generated: layers -->\n"
        "<!-- generated: outputs (x) -->\n<!-- end generated: outputs -->\n"
        "<!-- generated: layer-config (x) -->\n<!-- end generated: layer-config -->\n"
    )
    rendered = docs.render(text, source="t.md", layers=(extra,))
    assert "| extra | `mlapi-extra` | widgets | - |" in rendered
    assert "| `widgetArn` | ARN of the widget. |" in rendered
    # A pipe in a description would split the table row: it is escaped.
    assert "| `widgetCount` | integer | `3` | Widgets \\| per task. |" in rendered
    assert "protect" not in rendered.split("layer-config")[1]  # environment-wide keys have their own table


def test_a_layer_without_a_contract_is_refused(monkeypatch):
    monkeypatch.delitem(contracts.CONTRACTS, "edge")
    with pytest.raises(PlatformError, match="layer edge has no output contract"):
        docs.render("<!-- generated: outputs (x) -->\n<!-- end generated: outputs -->\n", source="README.md")


def test_broken_markers_name_the_file_and_line():
    with pytest.raises(PlatformError, match=r"README.md, line 3: generated block 'outputs' has no closing"):
        docs.render("a\nb\n<!-- generated: outputs (x) -->\nc\n", source="README.md")
    with pytest.raises(PlatformError, match="unknown generated block 'bogus'"):
        docs.render("<!-- generated: bogus (x) -->\n<!-- end generated: bogus -->\n", source="README.md")


def test_the_plan_format_copy_is_the_contract():
    # docs/plan-format.md is the repository's copy of the platform contract ../shared/plan-format.md
    # (outside the checkout, so a fresh clone has none): it must say exactly what the contract says.
    contract = manifest.REPO_ROOT.parent / "shared" / "plan-format.md"
    copy = (manifest.REPO_ROOT / "docs" / "plan-format.md").read_text()
    assert copy.split("\n", 2)[2] == contract.read_text() if contract.exists() else "format" in copy
