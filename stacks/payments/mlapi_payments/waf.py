"""A REGIONAL WAF web ACL in front of the payments load balancer, with its logs.

The payments ALB faces the internet directly (no CloudFront in front), so its ACL sees real client
addresses: the per-IP rate limit belongs here. The rules come from shared/waf.py, as the edge layer's do. Logs hold client addresses, paths and headers (credentials redacted) and are
encrypted with the payments key.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.tags import name_tag
from shared.waf import CREDENTIAL_HEADERS, data_protection, rules, visibility

# Headers that carry credentials or session ids: kept out of the WAF logs.
REDACTED_HEADERS = CREDENTIAL_HEADERS


@dataclass(frozen=True)
class PaymentsWafArgs:
    acl_name: str
    log_group_name: str  # WAF writes only to groups named aws-waf-logs-*
    kms_key_arn: pulumi.Input[str]
    log_retention_days: int
    rate_limit: int  # requests per client IP per 5 minutes
    load_balancer_arn: pulumi.Input[str]
    # What must exist first: a key policy that lets CloudWatch Logs use kms_key_arn.
    key: pulumi.Resource


class PaymentsWaf(pulumi.ComponentResource):
    def __init__(self, name: str, args: PaymentsWafArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:payments:PaymentsWaf", name, None, opts)
        if not args.log_group_name.startswith("aws-waf-logs-"):
            raise ValueError(f"WAF logs to CloudWatch only into log groups named aws-waf-logs-*: {args.log_group_name!r}")
        child = pulumi.ResourceOptions(parent=self)
        # Nested inputs are plain dicts (pulumi-aws types them as TypedDicts they never match);
        # tests/test_payments.py checks the rendered inputs.
        self.web_acl = aws.wafv2.WebAcl(  # type: ignore[call-overload]
            f"{name}-acl",
            name=args.acl_name,
            description="Payments load balancer: AWS managed rule groups and a per-IP rate limit",
            scope="REGIONAL",
            default_action={"allow": {}},
            rules=rules(args.acl_name, args.rate_limit, count_only_rules=()),
            visibility_config=visibility(args.acl_name),
            data_protection_config=data_protection(REDACTED_HEADERS),
            tags=name_tag(args.acl_name),
            opts=child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=args.log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=name_tag(args.log_group_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.key]),
        )
        self.logging = aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=[{"single_header": {"name": header}} for header in REDACTED_HEADERS],
            opts=child,
        )
        self.association = aws.wafv2.WebAclAssociation(
            f"{name}-association", resource_arn=args.load_balancer_arn, web_acl_arn=self.web_acl.arn, opts=child
        )
        self.register_outputs({"webAclArn": self.web_acl.arn})
