"""Fixtures of the compliance tests."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def real_plan(default_plan):
    """The default environment's plan document and the mock runtime's outputs of each resource."""
    document = json.loads(json.dumps(default_plan.document()))
    states = {reg.urn: reg.state for lp in default_plan.layers for reg in lp.rendered.registrations}
    return document, states
