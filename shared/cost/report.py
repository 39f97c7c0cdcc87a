"""An estimate as a table (what ``invoke cost`` prints), as JSON (``--out``), and the difference
between two estimates (``--compare``: what a change adds per month)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .estimate import FREE, NOT_PRICED, PRICED, Estimate, ResourceCost, all_resources
from .usage import ASSUMPTIONS

REPORT_FORMAT = 1


def money(amount: float) -> str:
    return f"${amount:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value else "0"


def _mode(est: Estimate) -> str:
    return "protected" if est.protected else "ephemeral"


def header(est: Estimate) -> list[str]:
    p = est.prices
    return [
        f"Monthly cost estimate of environment '{est.environment}' in {est.region} ({_mode(est)}; from the offline plan: nothing is deployed)",
        f"Prices: AWS list prices, on-demand, USD, as of {p.as_of} (shared/cost/prices.json); no free tier, no discounts",
    ]


def assumptions(est: Estimate) -> list[str]:
    changed = est.usage.changed()
    lines = [f"Usage assumptions ({est.usage.source}; change them with --usage FILE, see docs/cost.md):"]
    for a in ASSUMPTIONS:
        value = est.usage.as_dict()[a.key]
        mark = "*" if a.key in changed else " "
        lines.append(f"  {mark} {a.key:<38} {_quantity(value):>12}  {a.description}")
    return lines


def format_table(est: Estimate) -> str:
    """Per layer, each priced resource with its charges; then what is free and what is not priced."""
    lines = [*header(est), ""]
    width = 112
    for layer in est.layers:
        lines.append(f"[{layer.layer}]".ljust(width - 12) + f"{money(layer.monthly):>12}")
        for r in layer.resources:
            if r.status != PRICED:
                continue
            lines.append(f"  {r.resource.name} ({r.resource.type})".ljust(width - 12) + f"{money(r.monthly):>12}")
            for c in r.charges:
                detail = f"{_quantity(c.quantity)} {c.unit} x ${c.unit_price:g}"
                lines.append(f"      {c.item:<56} {detail:>38}  {money(c.monthly):>10}")
            if r.note:
                lines.append(f"      note: {r.note}")
        free = [r for r in layer.resources if r.status == FREE]
        if free:
            lines.append(f"  + {len(free)} resource(s) with no charge of their own (listed in the JSON estimate)")
        lines.append("")
    not_priced = est.with_status(NOT_PRICED)
    if not_priced:
        lines.append(f"NOT PRICED ({len(not_priced)}): their cost is unknown and NOT included in the total")
        for r in not_priced:
            lines.append(f"  [{r.resource.layer}] {r.resource.name} ({r.resource.type}): {r.note}")
        lines.append("")
    lines.append("Total".ljust(width - 12) + f"{money(est.total):>12} per month")
    if not_priced:
        lines.append(f"  ... plus {len(not_priced)} resource(s) not priced")
    lines += ["", *assumptions(est)]
    return "\n".join(lines)


def _cents(value: float) -> float:
    return round(value + 0.0, 2)


def _resource_document(r: ResourceCost) -> dict[str, Any]:
    return {
        "name": r.resource.name,
        "type": r.resource.type,
        "region": r.resource.region,
        "status": r.status,
        "monthly": _cents(r.monthly),
        "charges": [
            {"item": c.item, "quantity": c.quantity, "unit": c.unit, "unitPrice": c.unit_price, "monthly": _cents(c.monthly)}
            for c in r.charges
        ],
        "note": r.note,
    }


def to_document(est: Estimate) -> dict[str, Any]:
    """The estimate as JSON: monthly figures in USD, rounded to cents at each level."""
    return {
        "format": REPORT_FORMAT,
        "environment": est.environment,
        "region": est.region,
        "protected": est.protected,
        "currency": "USD",
        "prices": {
            "asOf": est.prices.as_of,
            "source": est.prices.source,
            "terms": "AWS list prices, on-demand; no free tier, no discounts",
        },
        "usage": {"source": est.usage.source, **est.usage.as_dict()},
        "layers": [
            {
                "layer": layer.layer,
                "monthly": _cents(layer.monthly),
                "resources": [_resource_document(r) for r in layer.resources],
            }
            for layer in est.layers
        ],
        "notPriced": [
            {"layer": r.resource.layer, "name": r.resource.name, "type": r.resource.type, "reason": r.note}
            for r in est.with_status(NOT_PRICED)
        ],
        "monthly": _cents(est.total),
    }


# --- comparing two estimates --------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    layer: str
    name: str
    type: str
    before: float | None  # None: not in the baseline
    after: float | None  # None: removed

    @property
    def delta(self) -> float:
        return (self.after or 0.0) - (self.before or 0.0)


def _key(r: ResourceCost) -> tuple[str, str, str]:
    return (r.resource.layer, r.resource.type, r.resource.name)


def compare(baseline: Estimate, current: Estimate) -> list[Change]:
    """What differs, resource by resource (by layer, type and logical name), in dollars per month."""
    before: Mapping[tuple[str, str, str], ResourceCost] = {_key(r): r for r in all_resources(baseline)}
    after: Mapping[tuple[str, str, str], ResourceCost] = {_key(r): r for r in all_resources(current)}
    changes = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        change = Change(key[0], key[2], key[1], None if old is None else old.monthly, None if new is None else new.monthly)
        if old is None or new is None or round(change.delta, 2) != 0 or old.status != new.status:
            changes.append(change)
    return changes


def format_comparison(baseline: Estimate, current: Estimate, baseline_name: str) -> str:
    changes = compare(baseline, current)
    lines = [
        f"Cost change of environment '{current.environment}' ({current.region}) against {baseline_name} "
        f"({baseline.environment}, {baseline.region}), per month at list prices as of {current.prices.as_of}",
        "",
    ]
    priced = [c for c in changes if round(c.delta, 2) != 0]
    for c in sorted(priced, key=lambda c: (c.layer, -abs(c.delta))):
        what = "added" if c.before is None else "removed" if c.after is None else f"{money(c.before)} -> {money(c.after)}"
        sign = "+" if c.delta > 0 else "-"
        lines.append(f"  {sign}{money(abs(c.delta)):>11}  [{c.layer}] {c.name} ({c.type}) {what}")
    unpriced = [c for c in changes if round(c.delta, 2) == 0]
    if unpriced:
        lines.append(f"  {len(unpriced)} resource(s) added or removed at no charge (or not priced)")
    if not changes:
        lines.append("  no resource changes cost")
    lines.append("")
    for layer in sorted({lyr.layer for lyr in baseline.layers} | {lyr.layer for lyr in current.layers}):
        old = sum(lyr.monthly for lyr in baseline.layers if lyr.layer == layer)
        new = sum(lyr.monthly for lyr in current.layers if lyr.layer == layer)
        if round(new - old, 2):
            lines.append(f"  [{layer}] {money(old)} -> {money(new)} ({'+' if new >= old else '-'}{money(abs(new - old))})")
    delta = current.total - baseline.total
    lines.append(
        f"Total: {money(baseline.total)} -> {money(current.total)} per month ({'+' if delta >= 0 else '-'}{money(abs(delta))})"
    )
    for label, est in (("baseline", baseline), ("this plan", current)):
        missing = est.with_status(NOT_PRICED)
        if missing:
            lines.append(f"  {label}: {len(missing)} resource(s) not priced, not included")
    return "\n".join(lines)


def comparison_document(baseline: Estimate, current: Estimate) -> dict[str, Any]:
    return {
        "baselineMonthly": _cents(baseline.total),
        "monthly": _cents(current.total),
        "delta": _cents(current.total - baseline.total),
        "changes": [
            {
                "layer": c.layer,
                "name": c.name,
                "type": c.type,
                "before": None if c.before is None else _cents(c.before),
                "after": None if c.after is None else _cents(c.after),
                "delta": _cents(c.delta),
            }
            for c in compare(baseline, current)
        ],
    }
