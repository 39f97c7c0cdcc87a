"""Load balancer rules: details beyond the shared cases."""

from __future__ import annotations

from .support import (
    HTTP_FORWARD,
    fragment,
    lb_with,
    violations,
)


def test_no_redirect_is_required_without_a_certificate():
    assert violations("alb-https-redirect", fragment(*lb_with(HTTP_FORWARD))) == []
