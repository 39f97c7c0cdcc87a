"""The internet-facing application load balancer: target group, listeners, path rules and, with a
domain, a regional ACM certificate validated in Route 53 and an alias record to the ALB."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag

from .settings import API_PATHS, HEALTH_CHECK_PATH

# Path rules in evaluation order: each API version, then the health check (so an external probe,
# or CloudFront's, sees what the target group sees). Everything else gets the listener's 404.
ROUTES: tuple[tuple[str, int, str], ...] = (
    ("api-v1", 10, API_PATHS[0]),
    ("api-v2", 20, API_PATHS[1]),
    ("health", 30, HEALTH_CHECK_PATH),
)


@dataclass(frozen=True)
class LoadBalancerArgs:
    namer: Namer
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    security_group_id: pulumi.Input[str]
    port: pulumi.Input[int]
    # Deletion protection on (EnvironmentSettings.blocks_deletion).
    blocks_deletion: bool
    health_check_interval: int
    ssl_policy: str
    domain_name: str | None = None
    hosted_zone_id: str | None = None


def not_found() -> aws.lb.ListenerDefaultActionArgs:
    return aws.lb.ListenerDefaultActionArgs(
        type="fixed-response",
        fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
            content_type="application/json", message_body='{"error":"not found"}', status_code="404"
        ),
    )


class LoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:compute:LoadBalancer", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        alb_name = n.name("alb", kind="alb")
        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=alb_name,
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[args.security_group_id],
            # Requests with header names that are not valid HTTP are dropped, not passed to the app
            # (a request-smuggling vector).
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.blocks_deletion,
            tags=name_tag(alb_name),
            opts=child,
        )
        tg_name = n.name("tg", kind="target-group")
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            name=tg_name,
            port=args.port,
            protocol="HTTP",
            target_type="ip",  # awsvpc tasks register by IP
            vpc_id=args.vpc_id,
            # API requests are short; the 300 s default would only slow every deployment down.
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                path=HEALTH_CHECK_PATH,
                protocol="HTTP",
                port="traffic-port",
                matcher="200",
                interval=args.health_check_interval,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=name_tag(tg_name),
            opts=child,
        )

        self.certificate: aws.acm.Certificate | None = None
        self.https_listener: aws.lb.Listener | None = None
        if args.domain_name and args.hosted_zone_id:
            self.certificate = aws.acm.Certificate(
                f"{name}-certificate",
                domain_name=args.domain_name,
                validation_method="DNS",
                tags=name_tag(n.name("alb-certificate")),
                opts=child,
            )
            option = self.certificate.domain_validation_options.apply(lambda options: options[0])
            validation_record = aws.route53.Record(
                f"{name}-certificate-validation-record",
                zone_id=args.hosted_zone_id,
                name=option.apply(lambda o: o.resource_record_name),
                type=option.apply(lambda o: o.resource_record_type),
                records=[option.apply(lambda o: o.resource_record_value)],
                ttl=60,
                # ACM reuses the same validation record for every certificate of a name.
                allow_overwrite=True,
                opts=child,
            )
            validation = aws.acm.CertificateValidation(
                f"{name}-certificate-validation",
                certificate_arn=self.certificate.arn,
                validation_record_fqdns=[validation_record.fqdn],
                opts=child,
            )
            self.https_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=args.ssl_policy,
                # The validated ARN: the listener waits until the certificate is issued.
                certificate_arn=validation.certificate_arn,
                default_actions=[not_found()],
                tags=name_tag(n.name("alb-https")),
                opts=child,
            )
            self.http_listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(protocol="HTTPS", port="443", status_code="HTTP_301"),
                    )
                ],
                tags=name_tag(n.name("alb-http")),
                opts=child,
            )
            self.alias_record = aws.route53.Record(
                f"{name}-alias",
                zone_id=args.hosted_zone_id,
                name=args.domain_name,
                type="A",
                aliases=[
                    aws.route53.RecordAliasArgs(name=self.alb.dns_name, zone_id=self.alb.zone_id, evaluate_target_health=True)
                ],
                opts=child,
            )
            serving = self.https_listener
        else:
            self.http_listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[not_found()],
                tags=name_tag(n.name("alb-http")),
                opts=child,
            )
            serving = self.http_listener

        self.serving_listener = serving
        self.rules = [
            aws.lb.ListenerRule(
                f"{name}-rule-{key}",
                listener_arn=serving.arn,
                priority=priority,
                actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=self.target_group.arn)],
                conditions=[
                    aws.lb.ListenerRuleConditionArgs(path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=[path]))
                ],
                tags=name_tag(n.name(f"alb-{key}")),
                opts=child,
            )
            for key, priority, path in ROUTES
        ]
        self.register_outputs({"albDnsName": self.alb.dns_name, "targetGroupArn": self.target_group.arn})
