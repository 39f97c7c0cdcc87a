"""StackReferences to upstream layers, checked against the manifest and the output contract."""

from __future__ import annotations

from typing import Any

import pulumi

from . import contracts, manifest
from .settings import EnvironmentSettings


def stack_reference_name(org: str, layer: str, stack: str) -> str:
    """Fully qualified stack name: ``<org>/<project>/<stack>`` (org ``organization`` on a self-managed backend)."""
    return f"{org}/{manifest.by_name(layer).project}/{stack}"


class Upstream:
    """Read the exports of one upstream layer of the same environment (same stack name).

    Refuses to reference a layer the manifest does not list as read, or an output name that
    layer's contract does not declare, so wiring mistakes fail at the first run, offline.
    """

    def __init__(self, env: EnvironmentSettings, layer: str) -> None:
        reads = manifest.by_name(env.layer).reads
        if layer not in reads:
            raise ValueError(
                f"layer {env.layer} reads {layer}, which shared/manifest.py does not list among its reads {list(reads)}"
            )
        self.layer = layer
        self.name = stack_reference_name(env.pulumi_org, layer, env.stack)
        self.reference = pulumi.StackReference(self.name)

    def require(self, output: str) -> pulumi.Output[Any]:
        if output not in contracts.names(self.layer):
            raise ValueError(f"layer {self.layer} does not export {output!r} (see shared/contracts.py)")
        return self.reference.require_output(output)

    def require_int(self, output: str) -> pulumi.Output[int]:
        """A whole-number output (a port, a count): numbers cross a StackReference as floats
        (8080.0), and the upstream layer validated the value before exporting it."""
        return self.require(output).apply(lambda number: int(number))
