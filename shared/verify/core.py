"""What a check is, what it sees (the outputs, AWS clients, HTTP targets) and what it reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import PlatformError


class Failed(Exception):
    """Raised inside a check: the property does not hold; the message is the evidence."""


@dataclass(frozen=True)
class Result:
    layer: str
    check: str
    passed: bool
    evidence: str


CheckFn = Callable[["Context"], str]


@dataclass(frozen=True)
class Check:
    """One read-only property of a deployed layer. ``run`` returns the evidence when it holds and
    raises :class:`Failed` when it does not. ``needs`` are the outputs it reads (``name`` of its
    own layer or ``layer.name``); ``settles`` marks checks ``--wait`` retries (HTTP answers, targets
    and tasks that take minutes to become healthy after a deploy)."""

    layer: str
    name: str
    needs: tuple[str, ...]
    run: CheckFn
    settles: bool = False


REGISTRY: list[Check] = []


def check(
    layers: str | tuple[str, ...], name: str, *, needs: tuple[str, ...] = (), settles: bool = False
) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as check ``name`` of each of ``layers``."""

    def register(fn: CheckFn) -> CheckFn:
        for layer in (layers,) if isinstance(layers, str) else layers:
            REGISTRY.append(Check(layer=layer, name=name, needs=needs, run=fn, settles=settles))
        return fn

    return register


# Names of the HTTP targets a caller can point elsewhere (tests: a server on 127.0.0.1).
URL_TARGETS = ("site", "site-http", "alb", "payments-test-listener")


@dataclass
class Context:
    """What one check of one layer sees. ``clients(service, region)`` makes boto3 clients
    (``region`` None: the environment's); ``urls`` overrides HTTP base URLs by target name."""

    env: str
    layer: str
    outputs: Mapping[str, Any]
    clients: Callable[[str, str | None], Any]
    region: str
    urls: Mapping[str, str] = field(default_factory=dict)
    http_timeout: float = 10.0
    expected: Mapping[str, Any] = field(default_factory=dict)

    def out(self, name: str) -> Any:
        """Output ``name`` of this layer, or ``layer.name`` of another."""
        key = name if "." in name else f"{self.layer}.{name}"
        if key not in self.outputs:
            raise PlatformError(f"the outputs file has no {key}")
        return self.outputs[key]

    def has(self, name: str) -> bool:
        key = name if "." in name else f"{self.layer}.{name}"
        return self.outputs.get(key) not in (None, "", [], {})

    def client(self, service: str, region: str | None = None) -> Any:
        return self.clients(service, region)

    def url(self, target: str, default: str) -> str:
        return self.urls.get(target, default).rstrip("/")
