"""The edge layer's settings, read once and validated before any resource is declared.

The repository ships *sample* domain settings (``parentDomain: api.example.com`` and a fake hosted
zone id) so that the offline plan renders this layer with no extra flags. They can never work for
real (example.com is reserved for documentation, RFC 2606), so a real run refuses them, and
missing ones, before it declares anything, naming the settings to give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.config import ConfigReader
from shared.errors import ConfigError
from shared.runtime import is_offline_plan
from shared.settings import EnvironmentSettings

LAYER = "edge"

# CloudFront accepts ACM certificates and CLOUDFRONT-scope WAF web ACLs only from us-east-1, and a
# CLOUDFRONT web ACL's log group must live there too. This is a CloudFront requirement, not where
# the environment is deployed (that is aws:region, read into EnvironmentSettings.region).
CLOUDFRONT_REGION = "us-east-1"

# Documentation samples shipped as the Pulumi.yaml defaults: accepted by the offline plan only.
SAMPLE_PARENT_DOMAIN = "api.example.com"
SAMPLE_HOSTED_ZONE_ID = "Z00SAMPLE0HOSTEDZONE"
# Second-level names and TLDs reserved for documentation and testing (RFC 2606, RFC 6761).
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org", "example", "test", "invalid", "localhost")

PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")

# AWS WAF's range for a rate-based rule's limit (requests per evaluation window per client IP).
RATE_LIMIT_MIN = 10
RATE_LIMIT_MAX = 2_000_000_000

# ACM refuses a certificate whose first domain name (its subject CN) is longer than 64 characters.
MAX_CERTIFICATE_DOMAIN = 64

# The rules of AWSManagedRulesCommonRuleSet (version 1), which wafCountOnlyRules may name.
COMMON_RULE_SET_RULES = (
    "NoUserAgent_HEADER",
    "UserAgent_BadBots_HEADER",
    "SizeRestrictions_QUERYSTRING",
    "SizeRestrictions_Cookie_HEADER",
    "SizeRestrictions_BODY",
    "SizeRestrictions_URIPATH",
    "EC2MetaDataSSRF_BODY",
    "EC2MetaDataSSRF_COOKIE",
    "EC2MetaDataSSRF_URIPATH",
    "EC2MetaDataSSRF_QUERYARGUMENTS",
    "GenericLFI_QUERYARGUMENTS",
    "GenericLFI_URIPATH",
    "GenericLFI_BODY",
    "RestrictedExtensions_URIPATH",
    "RestrictedExtensions_QUERYARGUMENTS",
    "GenericRFI_QUERYARGUMENTS",
    "GenericRFI_BODY",
    "GenericRFI_URIPATH",
    "CrossSiteScripting_COOKIE",
    "CrossSiteScripting_QUERYARGUMENTS",
    "CrossSiteScripting_BODY",
    "CrossSiteScripting_URIPATH",
)
# Model inputs are routinely larger than the 8 KB body SizeRestrictions_BODY blocks; counting it
# keeps its metric without rejecting legitimate inference requests.
DEFAULT_COUNT_ONLY_RULES = ("SizeRestrictions_BODY",)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{4,253}}$)(?:{_LABEL}\.)+[a-z]{{2,63}}")
_DOMAIN_RULE = (
    "a DNS name such as api.mycompany.com: lowercase labels of letters, digits and inner hyphens, at most 63 characters each"
)
_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")
_ZONE_RULE = "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ (the id alone, without /hostedzone/)"

CERT_ACM = "acm"
CERT_DEFAULT = "cloudfront-default"


def is_sample_domain(hostname: str) -> bool:
    """A name under a domain reserved for documentation: it can never be validated or resolved."""
    return any(hostname == d or hostname.endswith("." + d) for d in _RESERVED_DOMAINS)


@dataclass(frozen=True)
class EdgeSettings:
    env: EnvironmentSettings
    certificate_mode: str  # CERT_ACM or CERT_DEFAULT
    site_hostname: str | None  # None with CloudFront's default certificate (served on *.cloudfront.net)
    hosted_zone_id: str | None
    used_sample_domain: bool
    price_class: str
    rate_limit: int
    error_caching_min_ttl: int
    waf_log_retention_days: int
    count_only_rules: tuple[str, ...]
    require_origin_secret: bool
    origin_secret_version: int

    @property
    def custom_domain(self) -> bool:
        return self.certificate_mode == CERT_ACM

    @property
    def warnings(self) -> list[str]:
        """What the program logs as warnings: settings that are legal but weaken the edge."""
        found: list[str] = []
        if self.used_sample_domain:
            found.append(
                f"edge: using the SAMPLE domain settings ({self.site_hostname}, hosted zone {self.hosted_zone_id}); "
                "only the offline plan accepts them, a real run needs parentDomain (or domainName) and hostedZoneId"
            )
        elif not self.custom_domain:
            found.append("edge: acceptDefaultCertificate is true: the site is served only on its cloudfront.net name")
        if not self.require_origin_secret:
            found.append(
                "edge: requireOriginSecret is false: the load balancer's web ACL admits requests from any CloudFront "
                "distribution, so they can bypass this one's WAF; meant only for an ALB opened to clients on purpose "
                "(mlapi-network:albIngressSource internet)"
            )
        return found

    @classmethod
    def load(
        cls,
        reader: ConfigReader | None = None,
        env: EnvironmentSettings | None = None,
        *,
        offline: bool | None = None,
    ) -> EdgeSettings:
        """Read and validate the edge settings; ``offline`` defaults to :func:`is_offline_plan`."""
        env = env or EnvironmentSettings.load(LAYER, reader)
        reader = reader or ConfigReader(env.project)
        offline = is_offline_plan() if offline is None else offline

        accept_default = reader.boolean("acceptDefaultCertificate", False)
        explicit = _domain(reader, "domainName", "")
        parent = _domain(reader, "parentDomain", SAMPLE_PARENT_DOMAIN)
        zone = reader.string("hostedZoneId", SAMPLE_HOSTED_ZONE_ID, pattern=_ZONE_ID.pattern, allowed=_ZONE_RULE) or None

        price_class = reader.choice("priceClass", "PriceClass_100", PRICE_CLASSES)
        rate_limit = reader.integer("rateLimit", 2000, minimum=RATE_LIMIT_MIN, maximum=RATE_LIMIT_MAX)
        error_ttl = reader.integer("errorCachingMinTtl", 0, minimum=0, maximum=31_536_000)
        log_days = reader.log_retention("wafLogRetentionDays", 30)
        count_only = reader.string_list(
            "wafCountOnlyRules",
            DEFAULT_COUNT_ONLY_RULES,
            each=lambda rule: rule in COMMON_RULE_SET_RULES,
            allowed="names of rules in AWSManagedRulesCommonRuleSet: " + ", ".join(COMMON_RULE_SET_RULES),
        )

        require_origin_secret = reader.boolean("requireOriginSecret", True)
        origin_secret_version = reader.integer("originSecretVersion", 1, minimum=1, maximum=1_000_000)

        common: dict[str, Any] = {
            "env": env,
            "require_origin_secret": require_origin_secret,
            "origin_secret_version": origin_secret_version,
            "price_class": price_class,
            "rate_limit": rate_limit,
            "error_caching_min_ttl": error_ttl,
            "waf_log_retention_days": log_days,
            "count_only_rules": count_only,
        }
        if accept_default:
            # Domain settings would be silently ignored: refuse them rather than surprise anyone.
            given = [
                (k, v)
                for k, v in (("domainName", explicit), ("parentDomain", parent), ("hostedZoneId", zone))
                if v and not _sample(k, v)
            ]
            if given:
                key, value = given[0]
                raise reader.fail(
                    key,
                    value,
                    "unset while acceptDefaultCertificate is true (the site is then served only on its cloudfront.net name)",
                    hint=f"Either remove {reader.setting(key)} or set {reader.setting('acceptDefaultCertificate')} to false.",
                )
            return cls(certificate_mode=CERT_DEFAULT, site_hostname=None, hosted_zone_id=None, used_sample_domain=False, **common)

        # An unset or empty parentDomain/hostedZoneId falls back to its sample, refused below.
        assert parent is not None and zone is not None
        hostname = explicit or f"{env.suffix}.{parent}"
        hostname_key = "domainName" if explicit else "parentDomain"
        if len(hostname) > MAX_CERTIFICATE_DOMAIN:
            raise reader.fail(
                hostname_key,
                explicit or parent,
                f"a site hostname of at most {MAX_CERTIFICATE_DOMAIN} characters (ACM's limit for a certificate's domain name); "
                f"{hostname!r} has {len(hostname)}",
            )

        sample = [(k, v) for k, v in ((hostname_key, explicit or parent), ("hostedZoneId", zone)) if _sample(k, v)]
        if sample and not offline:
            how_to = (
                f"Give a domain you own and its public Route 53 hosted zone: `pulumi config set {reader.setting('parentDomain')} "
                f"<zone domain>` (the site is then <suffix>.<parentDomain>) or `pulumi config set {reader.setting('domainName')} "
                f"<hostname>`, plus `pulumi config set {reader.setting('hostedZoneId')} <zone id>`; or, for a throwaway environment "
                f"served on its cloudfront.net name, `pulumi config set {reader.setting('acceptDefaultCertificate')} true`."
            )
            raise ConfigError(
                " and ".join(reader.setting(k) for k, _ in sample),
                ", ".join(str(v) for _, v in sample),
                "a real domain and hosted zone: the shipped values are documentation samples that only the offline plan accepts",
                hint=how_to,
            )
        return cls(
            certificate_mode=CERT_ACM,
            site_hostname=hostname,
            hosted_zone_id=zone,
            used_sample_domain=bool(sample),
            **common,
        )


def _sample(key: str, value: str) -> bool:
    if key == "hostedZoneId":
        return value == SAMPLE_HOSTED_ZONE_ID
    return is_sample_domain(value)


def _domain(reader: ConfigReader, key: str, default: str) -> str | None:
    """A DNS name, lowercased and without a trailing dot (how Route 53 and ACM compare names)."""
    value = reader.string(key, default)
    if not value:
        return None
    name = value.lower().rstrip(".")
    if not _DOMAIN.fullmatch(name):
        raise reader.fail(key, value, _DOMAIN_RULE)
    return name
