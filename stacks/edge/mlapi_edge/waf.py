"""A WAF web ACL (AWS managed rule groups, optionally a per-IP rate limit), its metrics and its logs.

The same managed rule groups protect both entrances: the CLOUDFRONT-scope ACL on the distribution
(created in us-east-1, as CloudFront requires) and a REGIONAL ACL on the load balancer, so that a
request reaching the ALB some other way meets the same filters.

The per-IP rate limit belongs on the CLOUDFRONT ACL only. Behind CloudFront the ALB's ACL sees the
address of the CloudFront edge server that opened the connection, not the client's, so a per-IP
limit there would throttle every client sharing a busy edge location together. Aggregating on
X-Forwarded-For instead is worse: WAF takes the header's first address, which the client writes,
so anyone could spend another client's budget and get them blocked.

The load balancer's ACL instead starts with a rule that blocks every request lacking our
distribution's secret origin header (see ``mlapi_edge.origin_secret``): the origin-facing prefix
list that the ALB's security group admits belongs to all of CloudFront, not to our distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared import policies
from shared.aws_identity import AwsIdentity
from shared.naming import Namer
from shared.tags import name_tag
from shared.waf import CREDENTIAL_HEADERS, RequiredHeader, data_protection, rules, visibility

# Headers that carry credentials, session ids or the origin secret: kept out of the WAF logs.
REDACTED_HEADERS = (*CREDENTIAL_HEADERS, "x-origin-verify")


@dataclass(frozen=True)
class WebAclArgs:
    acl_name: str  # physical name of the web ACL
    log_group_name: str  # must start with aws-waf-logs-
    scope: str  # "CLOUDFRONT" (provider in us-east-1) or "REGIONAL"
    region: str  # the component's provider region: where the ACL, its key and its logs live
    identity: AwsIdentity
    key_deletion_window_days: int
    description: str
    # Requests per 5 minutes per client IP; None for an ACL that cannot see client addresses (the
    # REGIONAL one behind CloudFront, see the module docstring).
    rate_limit: int | None
    count_only_rules: Sequence[str]
    log_retention_days: int
    # A REGIONAL ACL's resource (the load balancer's ARN); a CLOUDFRONT ACL is attached by the
    # distribution's web_acl_id instead.
    protected_resource_arn: pulumi.Input[str] | None = None
    # The load balancer's ACL: block requests without our distribution's secret origin header.
    required_header: RequiredHeader | None = None


class WebAcl(pulumi.ComponentResource):
    """A web ACL with its log group and logging configuration, all through the component's provider."""

    def __init__(self, name: str, args: WebAclArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:edge:WebAcl", name, None, opts)
        if not args.log_group_name.startswith("aws-waf-logs-"):
            raise ValueError(f"WAF logs to CloudWatch only into log groups named aws-waf-logs-*: {args.log_group_name!r}")
        child = pulumi.ResourceOptions(parent=self)

        # pulumi-aws types nested inputs as TypedDicts, which plain dicts built by helpers never match;
        # the inputs are checked against the installed SDK's arguments by the edge tests instead.
        self.web_acl = aws.wafv2.WebAcl(  # type: ignore[call-overload]
            f"{name}-acl",
            name=args.acl_name,
            description=args.description,
            scope=args.scope,
            default_action={"allow": {}},
            rules=rules(args.acl_name, args.rate_limit, args.count_only_rules, args.required_header),
            visibility_config=visibility(args.acl_name),
            data_protection_config=data_protection(REDACTED_HEADERS),
            tags=name_tag(args.acl_name),
            opts=child,
        )
        # WAF logs go to CloudWatch Logs in the web ACL's own region (us-east-1 for CLOUDFRONT), so
        # each ACL gets its own key there: a KMS key serves only its own region. The logs hold
        # client addresses, paths and headers.
        log_group_arn = policies.log_group_arn(args.identity, args.region, args.log_group_name)
        self.key = aws.kms.Key(
            f"{name}-logs-key",
            description=f"Encrypts the WAF logs of {args.acl_name}",
            enable_key_rotation=True,
            deletion_window_in_days=args.key_deletion_window_days,
            policy=policies.kms_key_policy(args.identity, args.region, log_group_arn_pattern=log_group_arn),
            tags=name_tag(f"{args.acl_name}-logs"),
            opts=child,
        )
        alias = aws.kms.Alias(
            f"{name}-logs-key-alias", name=f"alias/{args.acl_name}-logs", target_key_id=self.key.key_id, opts=child
        )
        # CloudWatch Logs refuses a KMS key created seconds earlier until KMS has propagated it; the
        # provider retries the alias until KMS knows the key, so the log group waits for the alias.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=args.log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=self.key.arn,
            tags=name_tag(args.log_group_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[alias]),
        )
        self.logging = aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=[{"single_header": {"name": header}} for header in REDACTED_HEADERS],
            opts=child,
        )
        if args.protected_resource_arn is not None:
            aws.wafv2.WebAclAssociation(
                f"{name}-association",
                resource_arn=args.protected_resource_arn,
                web_acl_arn=self.web_acl.arn,
                opts=child,
            )
        self.register_outputs({"webAclArn": self.web_acl.arn, "logGroupName": self.log_group.name})


@dataclass(frozen=True)
class AclDefaults:
    """What both of the edge's web ACLs share."""

    namer: Namer
    identity: AwsIdentity
    key_deletion_window_days: int
    count_only_rules: Sequence[str]
    log_retention_days: int


def web_acl(
    key: str,
    defaults: AclDefaults,
    *,
    scope: str,
    region: str,
    description: str,
    rate_limit: int | None,
    opts: pulumi.ResourceOptions,
    protects: pulumi.Input[str] | None = None,
    required_header: RequiredHeader | None = None,
) -> WebAcl:
    """One of the edge's web ACLs (``key``: cloudfront or alb), named and logged the same way.

    WAF delivers logs only to CloudWatch log groups whose names start with ``aws-waf-logs-``.
    """
    acl_name = defaults.namer.name(f"{key}-waf", kind="waf")
    return WebAcl(
        f"{key}-waf",
        WebAclArgs(
            acl_name=acl_name,
            log_group_name=f"aws-waf-logs-{acl_name}",
            scope=scope,
            region=region,
            identity=defaults.identity,
            key_deletion_window_days=defaults.key_deletion_window_days,
            description=description,
            rate_limit=rate_limit,
            count_only_rules=defaults.count_only_rules,
            log_retention_days=defaults.log_retention_days,
            protected_resource_arn=protects,
            required_header=required_header,
        ),
        opts,
    )
