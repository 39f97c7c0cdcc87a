"""Edge: CloudFront viewers and origins, and the WAF web ACLs in front of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...aws_types import (
    DISTRIBUTION,
    WEB_ACL,
    WEB_ACL_LOGGING,
)
from ..model import (
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    first,
    get,
    text,
    truthy,
)
from ..registry import Scope, rule
from ._common import unreferenced


def _behaviors(res: Resource) -> Iterator[tuple[str, Any]]:
    yield "default cache behavior", first(res.get("defaultCacheBehavior")) or {}
    for behavior in as_list(res.get("orderedCacheBehaviors")):
        yield f"cache behavior {get(behavior, 'pathPattern', '?')}", behavior


@rule(
    "cloudfront-https-viewers",
    title="CloudFront serves viewers over HTTPS only",
    controls=("FSBP CloudFront.3",),
    fix="Set viewer_protocol_policy='redirect-to-https' (or 'https-only') on every cache behavior.",
    types=(DISTRIBUTION,),
)
def cloudfront_https_viewers(res: Resource, env: Environment) -> Iterator[str]:
    for where, behavior in _behaviors(res):
        policy = text(get(behavior, "viewerProtocolPolicy"))
        if policy not in ("https-only", "redirect-to-https"):
            yield f"{where} allows plain HTTP (viewerProtocolPolicy={policy or 'unset'})"


DEFAULT_CERTIFICATE_WAIVER = (
    "ephemeral environment without a domain: the *.cloudfront.net certificate (which pins viewers to TLSv1) is "
    "accepted for a throwaway environment only (edge certificateMode=cloudfront-default)"
)


@rule(
    "cloudfront-custom-certificate",
    title="CloudFront uses a custom ACM certificate served with SNI",
    controls=("FSBP CloudFront.7", "FSBP CloudFront.8"),
    fix="Give the edge layer a domain: viewer_certificate={acm_certificate_arn: <us-east-1 ACM ARN>, "
    "ssl_support_method: 'sni-only', minimum_protocol_version: 'TLSv1.2_2021'}.",
    types=(DISTRIBUTION,),
    uses_protect=True,
)
def cloudfront_custom_certificate(res: Resource, env: Environment) -> Iterator[Any]:
    cert = first(res.get("viewerCertificate")) or {}
    if truthy(get(cert, "cloudfrontDefaultCertificate")) or not get(cert, "acmCertificateArn"):
        message = "the distribution uses the default *.cloudfront.net certificate"
        yield Finding(res, message, waived=None if env.protect else DEFAULT_CERTIFICATE_WAIVER)
    elif text(get(cert, "sslSupportMethod")) != "sni-only":
        yield f"sslSupportMethod is {get(cert, 'sslSupportMethod') or 'unset'}, not sni-only (dedicated IPs cost $600/month)"


# FSBP CloudFront.15 accepts TLSv1.2_2021, TLSv1.2_2025 and TLSv1.3_2025; TLSv1.2_2018/2019 keep CBC ciphers.
CLOUDFRONT_RECOMMENDED_TLS12_YEAR = 2021


@rule(
    "cloudfront-tls12",
    title="CloudFront accepts only TLS 1.2 or newer from viewers",
    controls=("FSBP CloudFront.15", "Config cloudfront-security-policy-check"),
    fix="Set viewer_certificate.minimum_protocol_version='TLSv1.2_2021' or newer (needs a custom certificate).",
    types=(DISTRIBUTION,),
    uses_protect=True,
)
def cloudfront_tls12(res: Resource, env: Environment) -> Iterator[Any]:
    cert = first(res.get("viewerCertificate")) or {}
    if truthy(get(cert, "cloudfrontDefaultCertificate")) or not get(cert, "acmCertificateArn"):
        message = "with the default certificate CloudFront accepts TLSv1 from viewers"
        yield Finding(res, message, waived=None if env.protect else DEFAULT_CERTIFICATE_WAIVER)
        return
    version = text(get(cert, "minimumProtocolVersion"))
    match = re.fullmatch(r"TLSv1\.([23])_(\d{4})", version)
    if not match:
        yield f"minimumProtocolVersion is {version or 'unset'}, which accepts TLS older than 1.2"
    elif match.group(1) == "2" and int(match.group(2)) < CLOUDFRONT_RECOMMENDED_TLS12_YEAR:
        yield (
            f"minimumProtocolVersion is {version}: TLS 1.2, but with the weaker cipher suites CloudFront.15 "
            f"rejects (use TLSv1.2_2021 or newer)"
        )


@rule(
    "cloudfront-waf",
    title="CloudFront distributions are protected by a WAF web ACL",
    controls=("FSBP CloudFront.6",),
    fix="Set web_acl_id=<ARN of a CLOUDFRONT-scope WAFv2 web ACL (us-east-1)> on the distribution.",
    types=(DISTRIBUTION,),
)
def cloudfront_waf(res: Resource, env: Environment) -> Iterator[str]:
    if not text(res.get("webAclId")):
        yield "no webAclId: the distribution is not behind a WAF"


HTTP_ORIGIN_WAIVER = (
    "ephemeral environment whose load balancer has no certificate (compute albDomainName unset): CloudFront "
    "reaches it over HTTP, accepted for a throwaway environment only"
)


@rule(
    "cloudfront-origin-https",
    title="CloudFront reaches custom origins over HTTPS",
    controls=("FSBP CloudFront.9", "FSBP CloudFront.10"),
    fix="Give the ALB a certificate (compute albDomainName and hostedZoneId) so the origin can use "
    "origin_protocol_policy='https-only' with origin_ssl_protocols=['TLSv1.2'].",
    types=(DISTRIBUTION,),
    uses_protect=True,
)
def cloudfront_origin_https(res: Resource, env: Environment) -> Iterator[Any]:
    for origin in as_list(res.get("origins")):
        config = first(get(origin, "customOriginConfig"))
        if not config:
            continue
        policy = text(get(config, "originProtocolPolicy"))
        if policy != "https-only":
            # Over HTTP the viewers' headers (Authorization included) and the origin secret cross
            # the internet in clear text: never for a long-lived environment.
            message = f"origin {get(origin, 'originId', '?')} is reached with originProtocolPolicy={policy or 'unset'}"
            yield Finding(res, message, waived=None if env.protect else HTTP_ORIGIN_WAIVER)
        old = [p for p in as_list(get(config, "originSslProtocols")) if p in ("SSLv3", "TLSv1", "TLSv1.1")]
        if old:
            yield f"origin {get(origin, 'originId', '?')} allows {', '.join(old)}"


@rule(
    "waf-has-rules",
    title="WAF web ACLs contain at least one rule",
    controls=("FSBP WAF.10",),
    fix="Add managed rule groups (AWSManagedRulesCommonRuleSet, KnownBadInputs) and a rate-based rule.",
    types=(WEB_ACL,),
)
def waf_has_rules(res: Resource, env: Environment) -> Iterator[str]:
    if not as_list(res.get("rules")) and not text(res.get("ruleJson")):
        yield "the web ACL has no rules: it only applies its default action"


@rule(
    "waf-logging",
    title="WAF web ACLs log their decisions",
    controls=("FSBP WAF.11",),
    fix="Add aws.wafv2.WebAclLoggingConfiguration(resource_arn=acl.arn, log_destination_configs=[<log group "
    "named aws-waf-logs-...>]) for every web ACL.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the web ACL.",
)
def waf_logging(view: View, env: Environment) -> Iterator[Finding]:
    yield from unreferenced(
        view,
        WEB_ACL,
        by=WEB_ACL_LOGGING,
        through="resourceArn",
        message="no WebAclLoggingConfiguration: requests the WAF blocks or allows are not recorded",
    )
