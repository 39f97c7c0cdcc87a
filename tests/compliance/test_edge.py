"""CloudFront and WAF rules: details beyond the shared cases."""

from __future__ import annotations

from shared.aws_types import (
    DISTRIBUTION,
)
from shared.compliance import Status

from .support import (
    GOOD_CERT,
    fragment,
    res,
    results_of,
    violations,
)


def test_cloudfront_needs_the_recommended_tls12_policies_of_cloudfront_15():
    for version, ok in (
        ("TLSv1.2_2018", False),
        ("TLSv1.2_2019", False),
        ("TLSv1.1_2016", False),
        ("TLSv1.2_2021", True),
        ("TLSv1.2_2025", True),
        ("TLSv1.3_2025", True),
    ):
        dist = res(DISTRIBUTION, "cdn", {"viewerCertificate": {**GOOD_CERT, "minimumProtocolVersion": version}}, layer="edge")
        assert (violations("cloudfront-tls12", fragment(dist)) == []) is ok, version


def test_default_cloudfront_certificate_is_accepted_only_for_ephemeral_environments():
    default_cert = fragment(res(DISTRIBUTION, "cdn", {"viewerCertificate": {"cloudfrontDefaultCertificate": True}}, layer="edge"))
    for rule_id in ("cloudfront-custom-certificate", "cloudfront-tls12"):
        (ephemeral,) = results_of(rule_id, default_cert, protect=False)
        assert ephemeral.status is Status.WAIVED and "throwaway" in ephemeral.reason
        (protected,) = results_of(rule_id, default_cert, protect=True)
        assert protected.status is Status.VIOLATION
