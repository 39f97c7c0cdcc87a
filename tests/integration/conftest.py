"""Live tests: the `invoke verify` checks against a deployed environment, one pytest test each.

Skipped unless ``MLAPI_LIVE_TESTS=1``. They read the flat outputs file `invoke outputs` writes and
need AWS credentials for the environment's account and outbound HTTPS:

    invoke outputs --env pr-42
    MLAPI_LIVE_TESTS=1 MLAPI_ENV=pr-42 pytest tests/integration -m live

``MLAPI_OUTPUTS`` (default cfn-outputs/flat-outputs.json) picks another file, ``MLAPI_VERIFY_WAIT``
(seconds, default 0) lets the settling checks retry while CloudFront and the targets settle, and
``MLAPI_VERIFY_URLS`` (``site=https://...,alb=http://...``) sends HTTP checks elsewhere, as
`invoke verify --url` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.deploy import outputs as flat_outputs
from shared.deploy.session import session_for
from shared.verify import client_factory, expectations, layers_to_verify, require_outputs
from shared.verify.runner import checks_for


@dataclass(frozen=True)
class LiveEnvironment:
    env: str
    flat: dict[str, Any]
    layers: list[str]
    clients: Any
    region: str
    expected: dict[str, dict[str, Any]]
    wait: float
    urls: dict[str, str]


@pytest.fixture(scope="session")
def live() -> LiveEnvironment:
    if os.environ.get("MLAPI_LIVE_TESTS") != "1":
        pytest.skip("live test: set MLAPI_LIVE_TESTS=1 (and MLAPI_ENV) to run it against a deployed environment")
    env = os.environ.get("MLAPI_ENV") or os.environ.get("ENVIRONMENT_SUFFIX")
    if not env:
        pytest.fail("set MLAPI_ENV to the environment suffix the outputs file belongs to (e.g. MLAPI_ENV=pr-42)")
    path = Path(os.environ.get("MLAPI_OUTPUTS") or flat_outputs.DEFAULT_PATH)
    flat = flat_outputs.read(path)
    layers = layers_to_verify(env, flat)
    require_outputs(flat, checks_for(layers))
    session = session_for(env, flat)
    return LiveEnvironment(
        env=env,
        flat=flat,
        layers=layers,
        clients=client_factory(session),
        region=session.region_name,
        expected=expectations(env, layers),
        wait=float(os.environ.get("MLAPI_VERIFY_WAIT", "0")),
        urls=dict(item.split("=", 1) for item in os.environ.get("MLAPI_VERIFY_URLS", "").split(",") if "=" in item),
    )
