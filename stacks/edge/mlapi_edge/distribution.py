"""The CloudFront distribution: the load balancer as origin for the API, S3 for the error pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag

from .error_pages import ERROR_CODES, PATH_PREFIX, page_path

ALB_ORIGIN = "alb"
ERRORS_ORIGIN = "error-pages"
API_PATHS = ("/api/*", "/health")
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
READ_METHODS = ["GET", "HEAD"]
VIEWER_TLS = "TLSv1.2_2021"
ORIGIN_TLS = ["TLSv1.2"]
# Inference can outlast CloudFront's default 30 s; 60 s is the most allowed without a quota
# increase and matches the load balancer's default idle timeout.
ORIGIN_READ_TIMEOUT = 60

# AWS managed policies, looked up by name rather than by id so that the code says what it uses.
CACHING_DISABLED = "Managed-CachingDisabled"
CACHING_OPTIMIZED = "Managed-CachingOptimized"
ALL_VIEWER_EXCEPT_HOST = "Managed-AllViewerExceptHostHeader"


def origin_protocol_policy(protocol: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(protocol).apply(lambda p: "https-only" if p == "https" else "http-only")


@dataclass(frozen=True)
class EdgeDistributionArgs:
    namer: Namer
    site_hostname: str | None  # None: served on the distribution's cloudfront.net name
    certificate_arn: pulumi.Input[str] | None  # validated ACM certificate (us-east-1) when site_hostname is set
    origin_hostname: pulumi.Input[str]
    origin_protocol: pulumi.Input[str]  # "https" or "http"
    errors_bucket_domain_name: pulumi.Input[str]
    origin_access_control_id: pulumi.Input[str]
    web_acl_arn: pulumi.Input[str]
    # (name, value) CloudFront adds to every request to the load balancer, which the load
    # balancer's web ACL requires; None when that check is switched off.
    origin_secret_header: tuple[str, pulumi.Input[str]] | None
    price_class: str
    error_caching_min_ttl: int
    # What must be in place before the distribution changes: the load balancer's web ACL, so a
    # rotated origin secret is accepted before CloudFront starts sending it.
    depends_on: Sequence[pulumi.Resource] = ()


class EdgeDistribution(pulumi.ComponentResource):
    """Give it the us-east-1 provider (the managed-policy lookups and the distribution use it)."""

    def __init__(self, name: str, args: EdgeDistributionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:edge:Distribution", name, None, opts)
        n = args.namer
        if (args.site_hostname is None) != (args.certificate_arn is None):
            raise ValueError("a custom site hostname needs its certificate, and a certificate its hostname")
        lookup = pulumi.InvokeOptions(parent=self)

        def cache_policy(policy: str) -> pulumi.Output[str]:
            return aws.cloudfront.get_cache_policy_output(name=policy, opts=lookup).apply(lambda p: str(p.id))

        caching_disabled = cache_policy(CACHING_DISABLED)
        caching_optimized = cache_policy(CACHING_OPTIMIZED)
        all_viewer_except_host = aws.cloudfront.get_origin_request_policy_output(name=ALL_VIEWER_EXCEPT_HOST, opts=lookup).apply(
            lambda p: str(p.id)
        )

        def api_behaviour(path: str | None) -> dict[str, Any]:
            behaviour: dict[str, Any] = {
                "target_origin_id": ALB_ORIGIN,
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ALL_METHODS,
                "cached_methods": READ_METHODS,
                # API responses are per request: never cached. The viewer's headers, cookies and
                # query strings all reach the service; Host is the origin's own, which the
                # load balancer's certificate covers.
                "cache_policy_id": caching_disabled,
                "origin_request_policy_id": all_viewer_except_host,
                # CloudFront compresses only under a cache policy with Gzip/Brotli on, which a policy
                # with every TTL 0 (CachingDisabled) cannot have: `compress` would do nothing here.
                # The service compresses its own answers (Content-Encoding passes through).
                "compress": False,
            }
            if path is not None:
                behaviour["path_pattern"] = path
            return behaviour

        if args.site_hostname is not None:
            viewer_certificate: dict[str, Any] = {
                "acm_certificate_arn": args.certificate_arn,
                "ssl_support_method": "sni-only",
                "minimum_protocol_version": VIEWER_TLS,
            }
        else:
            # Explicitly accepted for a throwaway environment: CloudFront's *.cloudfront.net
            # certificate, whose minimum protocol CloudFront fixes itself.
            viewer_certificate = {"cloudfront_default_certificate": True}

        # pulumi-aws types nested inputs as TypedDicts, which plain dicts built by helpers never match;
        # the inputs are checked against the installed SDK's arguments by the edge tests instead.
        self.distribution = aws.cloudfront.Distribution(  # type: ignore[call-overload]
            f"{name}-cdn",
            comment=f"ML API {n.suffix}",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=args.price_class,
            aliases=[args.site_hostname] if args.site_hostname else [],
            web_acl_id=args.web_acl_arn,
            origins=[
                {
                    "origin_id": ALB_ORIGIN,
                    "domain_name": args.origin_hostname,
                    "custom_origin_config": {
                        "http_port": 80,
                        "https_port": 443,
                        "origin_protocol_policy": origin_protocol_policy(args.origin_protocol),
                        "origin_ssl_protocols": ORIGIN_TLS,
                        "origin_read_timeout": ORIGIN_READ_TIMEOUT,
                    },
                    "custom_headers": (
                        [{"name": args.origin_secret_header[0], "value": args.origin_secret_header[1]}]
                        if args.origin_secret_header
                        else []
                    ),
                },
                {
                    "origin_id": ERRORS_ORIGIN,
                    "domain_name": args.errors_bucket_domain_name,
                    "origin_access_control_id": args.origin_access_control_id,
                },
            ],
            default_cache_behavior=api_behaviour(None),
            ordered_cache_behaviors=[
                *(api_behaviour(path) for path in API_PATHS),
                {
                    "path_pattern": f"/{PATH_PREFIX}/*",
                    "target_origin_id": ERRORS_ORIGIN,
                    "viewer_protocol_policy": "redirect-to-https",
                    "allowed_methods": READ_METHODS,
                    "cached_methods": READ_METHODS,
                    # CachingOptimized enables Gzip and Brotli, so compression works here.
                    "cache_policy_id": caching_optimized,
                    "compress": True,
                },
            ],
            custom_error_responses=[
                {
                    "error_code": code,
                    "response_code": code,
                    "response_page_path": page_path(code),
                    # How long CloudFront remembers the error before asking the origin again.
                    "error_caching_min_ttl": args.error_caching_min_ttl,
                }
                for code in ERROR_CODES
            ],
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate=viewer_certificate,
            tags=name_tag(n.name("cdn")),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"distributionId": self.distribution.id, "domainName": self.distribution.domain_name})
