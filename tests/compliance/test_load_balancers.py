"""Load balancer rules: details beyond the shared cases."""

from __future__ import annotations

from shared.aws_types import DISTRIBUTION, LB

from .support import (
    HTTP_FORWARD,
    LB_ARN,
    fragment,
    lb_with,
    res,
    violations,
)


def test_no_redirect_is_required_without_a_certificate():
    assert violations("alb-https-redirect", fragment(*lb_with(HTTP_FORWARD))) == []


def _cdn(origin: str) -> dict:
    return res(DISTRIBUTION, "cdn", {"origins": [{"originId": "alb", "domainName": origin}]}, layer="edge")


def test_an_http_only_load_balancer_is_accepted_behind_cloudfront_and_internal_ones_are_not_judged():
    dns = "mlapi-alb-demo-1.us-east-1.elb.amazonaws.com"
    fronted = lb_with(HTTP_FORWARD)
    fronted[0]["state"] = {"arn": LB_ARN, "dnsName": dns}
    assert violations("alb-internet-facing-https", fragment(*fronted, _cdn(dns)), protect=True) == []
    # A distribution in front of another origin does not protect this load balancer.
    found = violations("alb-internet-facing-https", fragment(*fronted, _cdn("elsewhere.example.com")), protect=True)
    assert found == ["internet-facing with no HTTPS listener: clients reach it over plain HTTP"]
    internal = res(LB, "lb-int", {"loadBalancerType": "application", "internal": True}, layer="payments")
    assert violations("alb-internet-facing-https", fragment(internal), protect=True) == []
