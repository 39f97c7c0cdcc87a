"""Load balancers: header hygiene, HTTPS, TLS policy, WAF, deletion protection."""

from __future__ import annotations

from collections.abc import Iterator

from ...aws_types import (
    DISTRIBUTION,
    LISTENERS,
    LOAD_BALANCERS,
    WEB_ACL_ASSOCIATION,
)
from ..model import (
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    first,
    get,
    known,
    refers,
    text,
    truthy,
)
from ..registry import AppliesTo, Scope, rule

WAF_LAYER_NOTE = (
    "The ML API load balancer's WAF association lives in the edge stack, the load balancer in the compute stack: one "
    "stack cannot see both (the payments stack declares its own web ACL next to its load balancer, and is judged "
    "there). `invoke check` judges it over the whole plan."
)


@rule(
    "alb-drop-invalid-headers",
    title="Application load balancers drop invalid HTTP headers",
    controls=("FSBP ELB.4",),
    fix="Set drop_invalid_header_fields=True on the load balancer.",
    types=LOAD_BALANCERS,
)
def alb_drop_invalid_headers(res: Resource, env: Environment) -> Iterator[str]:
    if text(res.get("loadBalancerType")) in ("", "application") and not truthy(res.get("dropInvalidHeaderFields")):
        yield "dropInvalidHeaderFields is not true"


@rule(
    "alb-https-redirect",
    title="A load balancer with a certificate redirects HTTP to HTTPS",
    controls=("FSBP ELB.1",),
    fix="Make the HTTP listener's only default action a redirect to protocol HTTPS, port 443 (HTTP_301).",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the load balancer and its listeners.",
)
def alb_https_redirect(view: View, env: Environment) -> Iterator[Finding]:
    for lb in view.of_type(*LOAD_BALANCERS):
        listeners = [lyr for lyr in view.of_type(*LISTENERS) if refers(lyr, "loadBalancerArn", lb)]
        if not any(text(lyr.get("protocol")).upper() == "HTTPS" for lyr in listeners):
            continue  # no certificate: CloudFront terminates TLS and reaches the ALB over HTTP
        for listener in listeners:
            if text(listener.get("protocol")).upper() != "HTTP":
                continue
            actions = as_list(listener.get("defaultActions"))
            redirects = [
                a
                for a in actions
                if get(a, "type") == "redirect" and text(get(first(get(a, "redirect")) or {}, "protocol")).upper() == "HTTPS"
            ]
            if not redirects or len(actions) != len(redirects):
                yield Finding(
                    listener,
                    f"HTTP listener on port {listener.get('port')} serves plain HTTP although the load balancer has an HTTPS listener",
                )


TLS12_POLICY_PREFIXES = (
    "ELBSecurityPolicy-TLS13-1-2-",
    "ELBSecurityPolicy-TLS13-1-3-",
    "ELBSecurityPolicy-TLS-1-2-",
    "ELBSecurityPolicy-FS-1-2-",
)


@rule(
    "alb-tls-policy",
    title="HTTPS listeners accept only TLS 1.2 or newer",
    controls=("FSBP ELB.17",),
    fix="Set ssl_policy='ELBSecurityPolicy-TLS13-1-2-2021-06' (or another TLS 1.2+ policy) on the HTTPS listener.",
    types=LISTENERS,
)
def alb_tls_policy(res: Resource, env: Environment) -> Iterator[str]:
    if text(res.get("protocol")).upper() not in ("HTTPS", "TLS"):
        return
    policy = text(res.get("sslPolicy"))
    if not policy.startswith(TLS12_POLICY_PREFIXES):
        yield f"ssl policy {policy or '(unset: ELBSecurityPolicy-2016-08, TLS 1.0)'} accepts TLS older than 1.2"


@rule(
    "alb-behind-waf",
    title="Every application load balancer is associated with a WAF web ACL",
    controls=("FSBP ELB.16", "Config alb-waf-enabled"),
    fix="Associate a REGIONAL aws.wafv2.WebAcl with the ALB (aws.wafv2.WebAclAssociation(resource_arn=albArn, ...)): "
    "the edge layer does it for compute's ALB, the payments layer for its own (no CloudFront in front of it).",
    scope=Scope.STACK,
    pack_note=WAF_LAYER_NOTE,
)
def alb_behind_waf(view: View, env: Environment) -> Iterator[Finding]:
    associations = view.of_type(WEB_ACL_ASSOCIATION)
    for lb in view.of_type(*LOAD_BALANCERS):
        if text(lb.get("loadBalancerType")) not in ("", "application"):
            continue
        if any(refers(a, "resourceArn", lb) for a in associations):
            continue
        if view.whole:
            yield Finding(lb, "no WebAclAssociation references this load balancer: it is not behind a WAF")
        else:
            yield Finding(lb, "no WebAclAssociation in this stack", not_judged=WAF_LAYER_NOTE)


@rule(
    "alb-deletion-protection",
    title="Load balancers of protected environments have deletion protection",
    controls=("FSBP ELB.6",),
    fix="Set enable_deletion_protection=env.blocks_deletion on the load balancer (protect, unless decommissioning).",
    types=LOAD_BALANCERS,
    applies_to=AppliesTo.PROTECTED,
    waiver="deletion protection would make `pulumi destroy` fail; throwaway environments must be destroyable",
    lifted_while_decommissioning=True,
)
def alb_deletion_protection(res: Resource, env: Environment) -> Iterator[str]:
    if not truthy(res.get("enableDeletionProtection")):
        yield "enableDeletionProtection is not true"


PUBLIC_HTTPS_NOTE = (
    "Whether a CloudFront distribution fronts the load balancer is decided in the edge stack; this stack declares "
    "none, so an HTTP-only load balancer is left to `invoke check`, which judges it over the whole plan."
)


@rule(
    "alb-internet-facing-https",
    title="An internet-facing load balancer that no CloudFront distribution fronts serves HTTPS in protected environments",
    controls=("FSBP ELB.1", "PCI DSS 4.2.1"),
    fix="Give the load balancer a certificate and an HTTPS listener (mlapi-payments:albDomainName and hostedZoneId for "
    "the payments ALB, which faces the internet directly); its HTTP listener then only redirects to HTTPS.",
    scope=Scope.STACK,
    applies_to=AppliesTo.PROTECTED,
    waiver="an ephemeral environment may run without a domain, hence without a certificate; it serves no customer traffic",
    pack_note=PUBLIC_HTTPS_NOTE,
)
def alb_internet_facing_https(view: View, env: Environment) -> Iterator[Finding]:
    distributions = view.of_type(DISTRIBUTION)
    origins = {text(get(origin, "domainName")) for d in distributions for origin in as_list(d.get("origins"))} - {""}
    for lb in view.of_type(*LOAD_BALANCERS):
        if text(lb.get("loadBalancerType")) not in ("", "application") or truthy(lb.get("internal")):
            continue
        listeners = [lyr for lyr in view.of_type(*LISTENERS) if refers(lyr, "loadBalancerArn", lb)]
        if any(text(lyr.get("protocol")).upper() == "HTTPS" for lyr in listeners):
            continue
        # Behind CloudFront, viewers get HTTPS from the distribution; cloudfront-origin-https judges the hop to the ALB.
        if text(known(lb.outputs, "dnsName")) in origins:
            continue
        message = "internet-facing with no HTTPS listener: clients reach it over plain HTTP"
        if not view.whole and not distributions:
            yield Finding(lb, message, not_judged=PUBLIC_HTTPS_NOTE)
        else:
            yield Finding(lb, message)
