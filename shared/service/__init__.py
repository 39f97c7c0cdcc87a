"""Building blocks of an ECS Fargate service behind an application load balancer, shared by the
layers that run one (``compute``: rolling deployments; ``payments``: CodeDeploy blue/green).

Each module is one concern with one ``ComponentResource`` and a typed ``@dataclass`` of arguments.
A component's type token carries the layer that builds it (``mlapi:<layer>:<Kind>``) so existing
stacks keep their URNs; names, ports, tags, scaling metrics and the deployment controller are
arguments.
"""

from __future__ import annotations


def component_type(layer: str, kind: str) -> str:
    """The type token of a service component built by ``layer``: ``mlapi:compute:Cluster``."""
    return f"mlapi:{layer}:{kind}"
