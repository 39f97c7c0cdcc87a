"""Every `invoke verify` check as one live test (same implementation: shared/verify)."""

from __future__ import annotations

import pytest

from shared.verify import REGISTRY, Check, Context, run_one

pytestmark = pytest.mark.live


@pytest.mark.parametrize("check", REGISTRY, ids=[f"{c.layer}/{c.name}" for c in REGISTRY])
def test_check(live, check: Check) -> None:
    if check.layer not in live.layers:
        pytest.skip(f"environment {live.env} has no {check.layer} layer")
    ctx = Context(
        env=live.env,
        layer=check.layer,
        outputs=live.flat,
        clients=live.clients,
        region=live.region,
        urls=live.urls,
        expected=live.expected.get(check.layer, {}),
    )
    result = run_one(check, ctx, wait=live.wait)
    assert result.passed, f"{check.layer}/{check.name}: {result.evidence}"
