"""Edge layer: what a viewer gets through CloudFront, what a direct caller gets from the load
balancer, and that both web ACLs are attached."""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from functools import cache

from ..manifest import STACKS_DIR
from . import http
from .core import CheckFn, Context, Failed, check

ERROR_PAGE = STACKS_DIR / "edge" / "error_pages" / "404.html"
# Seconds to wait for a direct request to the load balancer: in `cloudfront` ingress mode its security
# group drops everyone else's packets, so the refusal is a timeout, not an answer.
DIRECT_TIMEOUT = 5.0


@cache
def error_page_marker() -> str:
    """The custom 404 page's <title>, which CloudFront's own error page does not have."""
    match = re.search(r"<title>(.*?)</title>", ERROR_PAGE.read_text(), re.S)
    if not match:
        raise RuntimeError(f"{ERROR_PAGE} has no <title>")
    return f"<title>{match.group(1)}</title>"


def _site(ctx: Context) -> str:
    return ctx.url("site", str(ctx.out("distributionUrl")))


def _get(ctx: Context, url: str, timeout: float | None = None) -> http.Answer:
    try:
        return http.get(url, timeout=timeout or ctx.http_timeout)
    except OSError as exc:
        raise Failed(f"{url}: no answer ({exc})") from None


@check("edge", "https-health-200", needs=("distributionUrl",), settles=True)
def health(ctx: Context) -> str:
    url = f"{_site(ctx)}/health"
    if not url.startswith("https://") and "site" not in ctx.urls:
        raise Failed(f"{url} is not HTTPS")
    answer = _get(ctx, url)
    if answer.status != 200:
        raise Failed(f"{url} answered {answer.status}")
    return f"{url} -> 200"


def _api(version: str) -> CheckFn:
    def reaches(ctx: Context) -> str:
        url = f"{_site(ctx)}/api/{version}/verify"
        answer = _get(ctx, url)
        if not 200 <= answer.status < 300:
            raise Failed(f"{url} answered {answer.status} (the service answers 2xx under /api/{version}/)")
        return f"{url} -> {answer.status}"

    return reaches


check("edge", "api-v1-reaches-service", needs=("distributionUrl",), settles=True)(_api("v1"))
check("edge", "api-v2-reaches-service", needs=("distributionUrl",), settles=True)(_api("v2"))


@check("edge", "unknown-path-404-page", needs=("distributionUrl",), settles=True)
def not_found_page(ctx: Context) -> str:
    url = f"{_site(ctx)}/mlapi-verify-{uuid.uuid4().hex[:12]}"  # a fresh path: no cached answer
    answer = _get(ctx, url)
    if answer.status != 404:
        raise Failed(f"{url} answered {answer.status}, not 404")
    if error_page_marker() not in answer.body:
        raise Failed(f"{url} answered 404 without the custom error page ({error_page_marker()} missing)")
    return "404 with the custom error page"


@check("edge", "http-redirects-to-https", needs=("siteHostname",), settles=True)
def redirects(ctx: Context) -> str:
    url = f"{ctx.url('site-http', 'http://' + str(ctx.out('siteHostname')))}/health"
    answer = _get(ctx, url)
    location = answer.header("location")
    if answer.status not in (301, 302, 307, 308) or not location.startswith("https://"):
        raise Failed(
            f"{url} answered {answer.status} {('-> ' + location) if location else ''}".strip() + ", not a redirect to https://"
        )
    return f"{url} -> {answer.status} {location}"


@check("edge", "alb-refuses-direct-requests", needs=("compute.originHostname", "compute.originProtocol"))
def alb_refuses(ctx: Context) -> str:
    # originHostname is the name the ALB's certificate covers (its DNS name without one), so a TLS
    # failure cannot pass for a refusal.
    base = ctx.url("alb", f"{ctx.out('compute.originProtocol')}://{ctx.out('compute.originHostname')}")
    url = f"{base}/health"
    try:
        answer = http.get(url, timeout=DIRECT_TIMEOUT)
    except OSError as exc:
        tls = exc if isinstance(exc, ssl.SSLError) else getattr(exc, "reason", None)  # urllib wraps it in URLError
        if isinstance(tls, ssl.SSLError):
            raise Failed(f"{url}: TLS failed ({tls}), so whether the ALB refuses direct requests is unknown") from None
        if isinstance(tls, socket.gaierror):
            # A name that does not resolve proves nothing about the load balancer (a stale outputs
            # file, a custom origin name not yet in DNS): only an unanswered connection counts.
            raise Failed(
                f"{url}: the name does not resolve ({tls}), so whether the ALB refuses direct requests is unknown"
            ) from None
        return f"{url}: no connection ({type(exc).__name__}): only CloudFront may reach it"
    if answer.status == 403:
        return f"{url} -> 403 without the origin secret header"
    raise Failed(
        f"{url} answered {answer.status} without the distribution's secret header: the ALB is reachable around CloudFront and WAF"
    )


@check("edge", "web-acls-associated", needs=("distributionId", "cloudfrontWebAclArn", "regionalWebAclArn", "compute.albArn"))
def web_acls(ctx: Context) -> str:
    regional = ctx.client("wafv2").get_web_acl_for_resource(ResourceArn=ctx.out("compute.albArn")).get("WebACL")
    if not regional or regional.get("ARN") != ctx.out("regionalWebAclArn"):
        raise Failed(
            f"the load balancer's web ACL is {regional.get('ARN') if regional else 'none'}, not {ctx.out('regionalWebAclArn')}"
        )
    config = ctx.client("cloudfront", "us-east-1").get_distribution_config(Id=ctx.out("distributionId"))["DistributionConfig"]
    if config.get("WebACLId") != ctx.out("cloudfrontWebAclArn"):
        raise Failed(f"the distribution's web ACL is {config.get('WebACLId') or 'none'}, not {ctx.out('cloudfrontWebAclArn')}")
    return "regional ACL on the load balancer, CLOUDFRONT ACL on the distribution"
