"""The plan document (format 1, docs/plan-format.md) as the rules' normalized view.

The document holds each resource's inputs. Multi-resource rules also need outputs (an ALB's ARN
to find its WAF association): an in-process plan supplies the mock runtime's recorded state; for
a plan read from a file they are re-derived with the same mocks that produced it (they are a
pure function of the stack, type, logical name, inputs and region), so both paths see the same
identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..plan.mocks import MOCK_ACCOUNT_ID, PlatformMocks
from .model import Resource, View

PROVIDER_PREFIX = "pulumi:providers:"


def _reconstruct(mocks: PlatformMocks, typ: str, name: str, inputs: Mapping[str, Any], region: str) -> dict[str, Any]:
    rid = mocks.resource_id(typ, name, inputs, region)
    state = dict(inputs)
    state.update(mocks.attributes(typ, name, rid, inputs, region))
    state.setdefault("id", rid)
    return state


def view_from_document(
    document: Mapping[str, Any],
    *,
    states: Mapping[str, Mapping[str, Any]] | None = None,
    account: str = MOCK_ACCOUNT_ID,
    whole: bool = True,
) -> View:
    """Every resource of every layer in ``document``; ``states`` (URN -> outputs) when known.

    A resource may also carry its outputs under a ``state`` key (hand-made fragments in tests do).
    """
    env = str(document.get("environment", ""))
    region = str(document.get("region", ""))
    resources: list[Resource] = []
    layer_outputs: dict[str, Mapping[str, Any]] = {}
    for layer in document.get("layers", []):
        layer_name = str(layer.get("layer"))
        layer_outputs[layer_name] = layer.get("outputs") or {}
        items = layer.get("resources", [])
        provider_regions = {
            r["urn"]: r.get("inputs", {}).get("region") for r in items if str(r.get("type", "")).startswith(PROVIDER_PREFIX)
        }
        mocks = PlatformMocks(region, account_id=account)
        mocks.scope = f"{layer.get('project', f'mlapi-{layer_name}')}/{env}"
        for item in items:
            typ, name, inputs = str(item["type"]), str(item["name"]), item.get("inputs") or {}
            provider = item.get("provider")
            res_region = region
            if provider:
                res_region = provider_regions.get(str(provider).rsplit("::", 1)[0]) or region
            if isinstance(inputs.get("region"), str) and typ.startswith("aws:"):
                res_region = inputs["region"]
            if "state" in item:
                outputs = item["state"] or {}
            elif states is not None and item.get("urn") in states:
                outputs = states[item["urn"]]
            elif typ.startswith("aws:"):
                outputs = _reconstruct(mocks, typ, name, inputs, res_region)
            else:
                outputs = {}
            resources.append(
                Resource(
                    type=typ,
                    name=name,
                    urn=str(item.get("urn", f"urn:pulumi:{env}::{layer_name}::{typ}::{name}")),
                    inputs=inputs,
                    layer=layer_name,
                    region=res_region,
                    outputs=outputs,
                    provider=provider,
                    parent=item.get("parent"),
                )
            )
    return View(resources=resources, whole=whole, region=region, account=account, layer_outputs=layer_outputs)
