"""Compare two offline plan documents resource by resource (URN, type, parent, provider, inputs).

    .venv/bin/python scripts/plan_diff.py BEFORE.json AFTER.json [--layers network,data,compute,edge]

Prints the URNs only one side has and, for URNs both have, each input that differs (a dotted
path, the old and the new value). Exit status 0 when the plans match, 1 otherwise. Use it to prove
a refactoring replaces nothing: a changed URN is a delete plus a create for Pulumi.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any


def _resources(document: dict[str, Any], layers: set[str] | None) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for layer in document["layers"] if layers is None or layer["layer"] in layers for r in layer["resources"]}


def _differences(old: Any, new: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from _differences(old.get(key), new.get(key), f"{path}.{key}")
    elif isinstance(old, str) and isinstance(new, str) and old.startswith(("[", "{")) and new.startswith(("[", "{")):
        try:  # JSON documents inside inputs (policies, container definitions): compare parsed
            yield from _differences(json.loads(old), json.loads(new), path + "(json)")
        except json.JSONDecodeError:
            if old != new:
                yield path, old, new
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _differences(a, b, f"{path}[{index}]")
    elif old != new:
        yield path, old, new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--layers", help="comma-separated layers to compare (default: all)")
    args = parser.parse_args(argv)
    layers = set(args.layers.split(",")) if args.layers else None
    with open(args.before) as b, open(args.after) as a:
        before, after = _resources(json.load(b), layers), _resources(json.load(a), layers)
    clean = True
    for urn in sorted(set(before) - set(after)):
        clean = False
        print(f"- only before: {urn}")
    for urn in sorted(set(after) - set(before)):
        clean = False
        print(f"+ only after:  {urn}")
    for urn in sorted(set(before) & set(after)):
        old, new = before[urn], after[urn]
        changes = [
            (f".{key}", old.get(key), new.get(key)) for key in ("type", "parent", "provider") if old.get(key) != new.get(key)
        ]
        changes += list(_differences(old.get("inputs"), new.get("inputs"), "inputs"))
        if changes:
            clean = False
            print(f"~ {urn}")
            for path, was, now in changes:
                print(f"    {path}: {json.dumps(was)[:160]} -> {json.dumps(now)[:160]}")
    print(f"{len(before)} resources before, {len(after)} after: {'identical' if clean else 'different'}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
