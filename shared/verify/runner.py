"""Run the checks of the layers an environment has and report one row per check."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .. import manifest
from ..errors import ConfigError, PlatformError
from ..stack_config import assemble, environment_file
from . import data, edge, network  # noqa: F401  (they register their checks)
from . import service as _service  # noqa: F401
from .core import REGISTRY, Check, Context, Failed, Result

RETRY_INTERVAL = 10.0


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _clock() -> float:
    return time.monotonic()


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.passed]

    def format(self) -> str:
        rows = [("layer", "check", "result", "evidence")]
        rows += [(r.layer, r.check, "PASS" if r.passed else "FAIL", r.evidence) for r in self.results]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3] for row in rows
        ]
        summary = f"{len(self.results) - len(self.failures)} of {len(self.results)} checks passed"
        return "\n".join([*lines, "", summary])


def layers_in(flat: Mapping[str, Any]) -> list[str]:
    """Layers with outputs in the file, in manifest order (unknown layers after, alphabetically)."""
    present = {key.split(".", 1)[0] for key in flat if "." in key}
    known = [layer.name for layer in manifest.LAYERS]
    return [name for name in known if name in present] + sorted(present - set(known))


def selected_layers(env: str) -> tuple[str, ...]:
    """The ``layers`` of ``environments/<env>.yaml`` (empty: the environment has every layer)."""
    path = environment_file(env)
    if path is None:
        return ()
    names = (yaml.safe_load(path.read_text()) or {}).get("layers") or ()
    return tuple(layer.name for layer in manifest.select(list(names), setting=f"{path.name}: layers"))


def layers_to_verify(env: str, flat: Mapping[str, Any], only: str | None = None) -> list[str]:
    present = layers_in(flat)
    wanted = list(selected_layers(env)) or present
    missing = [name for name in wanted if name not in present]
    if missing:
        raise PlatformError(
            f"the outputs file has no outputs of layer(s) {', '.join(missing)}, which environment {env} has: deploy them "
            f"(`invoke up-all --env {env}`) and write the file again (`invoke outputs --env {env}`)"
        )
    if only is not None:
        if only not in wanted:
            raise PlatformError(f"--layer {only}: the environment's layers in the outputs file are {', '.join(wanted) or 'none'}")
        return [only]
    if not wanted:
        raise PlatformError("the outputs file holds no <layer>.<name> outputs: write it with `invoke outputs --env <env>`")
    return wanted


def checks_for(layers: list[str]) -> list[Check]:
    return [c for layer in layers for c in REGISTRY if c.layer == layer]


def require_outputs(flat: Mapping[str, Any], checks: list[Check]) -> None:
    missing = sorted(
        {need if "." in need else f"{c.layer}.{need}" for c in checks for need in c.needs}
        - {key for key, value in flat.items() if value is not None}
    )
    if missing:
        raise PlatformError(
            f"the outputs file lacks {', '.join(missing)}: it is stale or the stacks predate these outputs; run "
            "`invoke up-all --env <env>` (or `invoke up` of those layers) and `invoke outputs --env <env>`"
        )


def expectations(env: str, layers: list[str]) -> dict[str, dict[str, Any]]:
    """What the layers' own settings promise, where a check compares against them (the data
    layer's capacity range, the payments load balancer's domain). A layer whose stack file cannot be read offline gets no expectation."""
    found: dict[str, dict[str, Any]] = {}
    if "data" in layers:
        try:
            values = assemble(manifest.by_name("data"), env).values
            found["data"] = {"capacity": (float(values["mlapi-data:minCapacity"]), float(values["mlapi-data:maxCapacity"]))}
        except (KeyError, ValueError, ConfigError, PlatformError):
            pass  # the check then holds the range to be a range, without comparing
    if "payments" in layers:
        try:
            domain = assemble(manifest.by_name("payments"), env).values.get("mlapi-payments:albDomainName")
            if domain:
                found["payments"] = {"albDomainName": str(domain)}
        except (KeyError, ConfigError, PlatformError):
            pass  # the test listener is then asked under the load balancer's DNS name
    return found


def run_check(check: Check, ctx: Context) -> Result:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return Result(check.layer, check.name, True, check.run(ctx))
    except Failed as failure:
        return Result(check.layer, check.name, False, str(failure))
    except NoCredentialsError:
        raise PlatformError("no AWS credentials: configure them for the environment's account and run verify again") from None
    except ClientError as error:
        info = error.response.get("Error", {})
        return Result(check.layer, check.name, False, f"{error.operation_name}: {info.get('Code')}: {info.get('Message')}")
    except BotoCoreError as error:
        return Result(check.layer, check.name, False, f"AWS call failed: {error}")
    except (KeyError, IndexError, TypeError, ValueError) as error:
        # An answer without a field the check reads (a cluster gone between calls, an API change):
        # one FAIL row, not a traceback that hides every other row.
        return Result(check.layer, check.name, False, f"unexpected answer: {type(error).__name__}: {error}")


def verify(
    env: str,
    flat: Mapping[str, Any],
    *,
    clients: Callable[[str, str | None], Any],
    region: str,
    only: str | None = None,
    urls: Mapping[str, str] | None = None,
    wait: float = 0.0,
    out: Callable[[str], None] | None = None,
) -> Report:
    """Run every check of the environment's layers (or of ``only``); retry the settling ones that
    fail for up to ``wait`` seconds. Raises PlatformError on bad input before any check runs."""
    layers = layers_to_verify(env, flat, only)
    checks = checks_for(layers)
    require_outputs(flat, checks)
    expected = expectations(env, layers)

    def context(layer: str, round_clients: Callable[[str, str | None], Any]) -> Context:
        return Context(
            env=env,
            layer=layer,
            outputs=flat,
            clients=round_clients,
            region=region,
            urls=dict(urls or {}),
            expected=expected.get(layer, {}),
        )

    first = RoundClients(clients)
    results = {(c.layer, c.name): run_check(c, context(c.layer, first)) for c in checks}
    deadline = _clock() + max(wait, 0.0)
    while True:
        pending = [c for c in checks if c.settles and not results[(c.layer, c.name)].passed]
        remaining = deadline - _clock()
        if not pending or remaining <= 0:
            break
        if out:
            out(f"waiting for {len(pending)} check(s) to settle ({remaining:.0f} s left): {', '.join(c.name for c in pending)}")
        _sleep(min(RETRY_INTERVAL, remaining))
        again = RoundClients(clients)  # a retry asks AWS anew
        for c in pending:
            results[(c.layer, c.name)] = run_check(c, context(c.layer, again))
    return Report([results[(c.layer, c.name)] for c in checks])


def run_one(check: Check, ctx: Context, *, wait: float = 0.0) -> Result:
    """One check, retried for up to ``wait`` seconds when it is a settling one (the live tests)."""
    result = run_check(check, ctx)
    deadline = _clock() + max(wait, 0.0)
    while check.settles and not result.passed and (remaining := deadline - _clock()) > 0:
        _sleep(min(RETRY_INTERVAL, remaining))
        result = run_check(check, ctx)
    return result


# Reads: what a check may ask twice and get the same answer within one round.
_READS = ("describe_", "list_", "get_")
_NOT_READS = ("get_paginator", "get_waiter")


class RoundClients:
    """The clients of one round of checks: a read (``describe_*``, ``list_*``, ``get_*`` with the
    same arguments) goes to AWS once per round; a check that asks again gets a copy of that answer.
    Several checks read the same thing (the Aurora cluster five times, each service and its tasks
    twice): a third of a round's calls. A failed call is not kept; paginators, waiters and every
    other call go through unchanged. Each retry round gets new ones."""

    def __init__(self, clients: Callable[[str, str | None], Any]) -> None:
        self._clients = clients
        self._made: dict[tuple[str, str | None], _RememberingClient] = {}

    def __call__(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        if key not in self._made:
            self._made[key] = _RememberingClient(self._clients(service, region))
        return self._made[key]


class _RememberingClient:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._answers: dict[tuple[str, str], Any] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or not name.startswith(_READS) or name in _NOT_READS:
            return attribute

        def read(*args: Any, **kwargs: Any) -> Any:
            if args:  # boto3 takes keyword arguments only: not a call this knows how to key
                return attribute(*args, **kwargs)
            key = (name, json.dumps(kwargs, sort_keys=True, default=str))
            if key not in self._answers:
                self._answers[key] = attribute(**kwargs)
            return copy.deepcopy(self._answers[key])

        return read


def client_factory(session: Any) -> Callable[[str, str | None], Any]:
    """boto3 clients from ``session``, one per (service, region)."""
    made: dict[tuple[str, str | None], Any] = {}

    def client(service: str, region: str | None = None) -> Any:
        if (service, region) not in made:
            made[(service, region)] = session.client(service, region_name=region) if region else session.client(service)
        return made[(service, region)]

    return client
