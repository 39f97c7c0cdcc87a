"""The layer manifest: which layers exist, where they live and which layers each reads.

It is the one source of dependency order for the offline plan and every task in ``tasks.py``.
Adding a layer means adding a line here and a directory under ``stacks/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import APP

REPO_ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = REPO_ROOT / "stacks"


@dataclass(frozen=True)
class Layer:
    name: str
    reads: tuple[str, ...]
    owns: str

    @property
    def project(self) -> str:
        """The ``name:`` in the layer's Pulumi.yaml."""
        return f"{APP}-{self.name}"

    @property
    def directory(self) -> Path:
        return STACKS_DIR / self.name


LAYERS: tuple[Layer, ...] = (
    Layer("network", (), "VPC, subnets, NAT, gateway endpoints, flow logs, security groups"),
    Layer("data", ("network",), "KMS key, Aurora PostgreSQL Serverless v2, RDS-managed master secret, DynamoDB session table"),
    Layer(
        "compute",
        ("network", "data"),
        "ECR, ECS cluster (Fargate/Fargate Spot), task definition and roles, service, ALB, autoscaling, logs, alarms",
    ),
    Layer(
        "payments",
        ("network", "data"),
        "Payment processor: ECR, ECS cluster (Fargate/Fargate Spot), CodeDeploy blue/green service behind its own ALB, "
        "its own log KMS key, autoscaling on CPU and memory, alarms",
    ),
    Layer(
        "edge",
        ("network", "compute"),
        "CloudFront, ACM certificate (us-east-1), Route 53 records, WAF (CLOUDFRONT and REGIONAL), error pages, CloudFront-only ALB ingress",
    ),
)


def by_name(name: str) -> Layer:
    for layer in LAYERS:
        if layer.name == name:
            return layer
    raise KeyError(f"unknown layer {name!r}; layers are: {', '.join(lyr.name for lyr in LAYERS)}")


def ordered(layers: tuple[Layer, ...] = LAYERS) -> list[Layer]:
    """Layers in dependency order (a layer after every layer it reads); stable for ties."""
    names = {layer.name for layer in layers}
    for layer in layers:
        missing = [r for r in layer.reads if r not in names]
        if missing:
            raise ValueError(f"layer {layer.name} reads unknown layer(s) {missing}")
    done: list[Layer] = []
    remaining = list(layers)
    while remaining:
        ready = [lyr for lyr in remaining if all(r in {d.name for d in done} for r in lyr.reads)]
        if not ready:
            raise ValueError(f"dependency cycle among layers {[lyr.name for lyr in remaining]}")
        done.append(ready[0])
        remaining.remove(ready[0])
    return done


def select(names: Sequence[str] | None, *, setting: str = "layers", layers: tuple[Layer, ...] = LAYERS) -> tuple[Layer, ...]:
    """The layers an environment has, in manifest order: every layer when ``names`` is empty.

    A selection may leave workload layers out (a payments-only environment without compute and
    edge) but never a layer that a selected layer reads. Raises ConfigError naming ``setting``.
    """
    from .errors import ConfigError

    if not names:
        return layers
    known = [layer.name for layer in layers]
    for name in names:
        if name not in known:
            raise ConfigError(setting, name, "a layer name; the layers are " + ", ".join(known))
    chosen = set(names)
    for layer in layers:
        if layer.name in chosen:
            missing = [upstream for upstream in layer.reads if upstream not in chosen]
            if missing:
                raise ConfigError(
                    setting,
                    list(names),
                    f"a selection that keeps every layer a selected layer reads: {layer.name} reads "
                    f"{' and '.join(missing)}, so add {' and '.join(missing)} or leave {layer.name} out",
                )
    return tuple(layer for layer in layers if layer.name in chosen)


def dependents(name: str, layers: tuple[Layer, ...] = LAYERS) -> list[Layer]:
    """Layers that read ``name`` directly."""
    return [layer for layer in layers if name in layer.reads]
