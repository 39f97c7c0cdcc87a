"""Edge layer: settings -> components -> exports."""

import pulumi

from mlapi_edge.distribution import EdgeDistribution, EdgeDistributionArgs
from mlapi_edge.domain import SiteAlias, SiteAliasArgs, SiteCertificate, SiteCertificateArgs
from mlapi_edge.error_pages import ErrorPages, ErrorPagesArgs
from mlapi_edge.origin_access import CloudFrontToAlb, CloudFrontToAlbArgs
from mlapi_edge.origin_secret import OriginSecret, OriginSecretArgs
from mlapi_edge.settings import CLOUDFRONT_REGION, LAYER, EdgeSettings
from mlapi_edge.upstream import read_compute, read_network
from mlapi_edge.waf import AclDefaults, RequiredHeader, web_acl
from shared import contracts
from shared.aws_identity import AwsIdentity
from shared.provider import aws_provider, with_provider

settings = EdgeSettings.load()
env = settings.env
n = env.namer
for warning in settings.warnings:
    pulumi.log.warn(warning)

regional = aws_provider(env)
cloudfront = aws_provider(env, region=CLOUDFRONT_REGION, name=f"aws-{CLOUDFRONT_REGION}")
compute = read_compute(env)
network = read_network(env)
identity = AwsIdentity.lookup(regional)
acl_defaults = AclDefaults(
    namer=n,
    identity=identity,
    key_deletion_window_days=env.key_deletion_window_days,
    count_only_rules=settings.count_only_rules,
    log_retention_days=settings.waf_log_retention_days,
)

edge_waf = web_acl(
    "cloudfront",
    acl_defaults,
    scope="CLOUDFRONT",
    region=CLOUDFRONT_REGION,
    description=f"ML API {env.suffix}: requests reaching CloudFront",
    rate_limit=settings.rate_limit,
    opts=with_provider(cloudfront),
)
# Only requests from our distribution carry this header; the load balancer's ACL blocks the rest.
origin_secret = (
    OriginSecret("origin-secret", OriginSecretArgs(version=settings.origin_secret_version))
    if settings.require_origin_secret
    else None
)
# No per-IP rate limit on the load balancer's ACL: there every request comes from a CloudFront
# edge address, so it would throttle unrelated clients together (see mlapi_edge/waf.py).
alb_waf = web_acl(
    "alb",
    acl_defaults,
    scope="REGIONAL",
    region=env.region,
    description=f"ML API {env.suffix}: requests reaching the load balancer",
    rate_limit=None,
    opts=with_provider(regional),
    protects=compute.alb_arn,
    required_header=RequiredHeader(origin_secret.header_name, [origin_secret.value, origin_secret.previous])
    if origin_secret
    else None,
)

pages = ErrorPages(
    "errors",
    ErrorPagesArgs(namer=n, account_id=identity.account_id, blocks_deletion=env.blocks_deletion),
    with_provider(regional),
)
certificate = (
    SiteCertificate(
        "site",
        SiteCertificateArgs(namer=n, hostname=settings.site_hostname, hosted_zone_id=settings.hosted_zone_id),
        with_provider(cloudfront),
    )
    if settings.custom_domain
    else None
)
cdn = EdgeDistribution(
    "edge",
    EdgeDistributionArgs(
        namer=n,
        site_hostname=settings.site_hostname,
        certificate_arn=certificate.arn if certificate else None,
        origin_hostname=compute.origin_hostname,
        origin_protocol=compute.origin_protocol,
        errors_bucket_domain_name=pages.bucket.bucket_regional_domain_name,
        origin_access_control_id=pages.origin_access_control.id,
        web_acl_arn=edge_waf.web_acl.arn,
        origin_secret_header=(origin_secret.header_name, origin_secret.value) if origin_secret else None,
        price_class=settings.price_class,
        error_caching_min_ttl=settings.error_caching_min_ttl,
        depends_on=[alb_waf.web_acl],
    ),
    with_provider(cloudfront),
)
pages.allow_distribution(cdn.distribution.arn)
if settings.custom_domain:
    SiteAlias(
        "site-alias",
        SiteAliasArgs(
            hostname=settings.site_hostname,
            hosted_zone_id=settings.hosted_zone_id,
            distribution_domain_name=cdn.distribution.domain_name,
            distribution_zone_id=cdn.distribution.hosted_zone_id,
        ),
        with_provider(cloudfront),
    )
CloudFrontToAlb(
    "alb-from-cloudfront",
    CloudFrontToAlbArgs(namer=n, alb_security_group_id=network.alb_security_group_id, origin_protocol=compute.origin_protocol),
    with_provider(regional),
)

site_hostname = settings.site_hostname or cdn.distribution.domain_name
contracts.export(
    LAYER,
    {
        "distributionId": cdn.distribution.id,
        "distributionDomainName": cdn.distribution.domain_name,
        "distributionUrl": pulumi.Output.concat("https://", site_hostname),
        "siteHostname": site_hostname,
        "cloudfrontWebAclArn": edge_waf.web_acl.arn,
        "regionalWebAclArn": alb_waf.web_acl.arn,
        "certificateMode": settings.certificate_mode,
        "certificateArn": certificate.arn if certificate else "",
        "usedSampleDomain": settings.used_sample_domain,
        "errorPagesBucketName": pages.bucket.bucket,
        "cloudfrontWafLogGroupName": edge_waf.log_group.name,
        "regionalWafLogGroupName": alb_waf.log_group.name,
        "originSecretVersion": settings.origin_secret_version,
    },
)
