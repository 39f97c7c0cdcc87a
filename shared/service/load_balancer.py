"""Internet-facing application load balancers for a service.

* :class:`LoadBalancer` (rolling deployments): one target group, path rules on the serving listener;
* :class:`BlueGreenLoadBalancer` (CodeDeploy): two target groups, a production and a test listener
  whose default actions CodeDeploy swaps during a release.

Both, with a domain, get a regional ACM certificate validated in Route 53, HTTPS (HTTP redirected)
and an alias record to the ALB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..naming import Namer
from ..tags import name_tag
from . import component_type
from .timing import DEREGISTRATION_DELAY_SECONDS

HEALTH_CHECK_PATH = "/health"


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
    # Path rules on the serving listener, in evaluation order: (key, priority, path pattern).
    # Everything else gets the listener's 404.
    routes: Sequence[tuple[str, int, str]] = ()
    # Name parts: mlapi-<alb>-<suffix> (at most 5 characters: ALB names are limited to 32) and
    # mlapi-<target group>-<suffix> (the same limit).
    alb_part: str = "alb"
    target_group_part: str = "tg"
    # Seconds a deregistered task keeps its in-flight requests (see timing.py).
    deregistration_delay: int = DEREGISTRATION_DELAY_SECONDS


def not_found() -> aws.lb.ListenerDefaultActionArgs:
    return aws.lb.ListenerDefaultActionArgs(
        type="fixed-response",
        fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
            content_type="application/json", message_body='{"error":"not found"}', status_code="404"
        ),
    )


def forward(target_group: aws.lb.TargetGroup) -> aws.lb.ListenerDefaultActionArgs:
    return aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)


def application_load_balancer(name: str, args: LoadBalancerArgs, child: pulumi.ResourceOptions) -> aws.lb.LoadBalancer:
    alb_name = args.namer.name(args.alb_part, kind="alb")
    return aws.lb.LoadBalancer(
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


def service_target_group(
    resource_name: str, tg_name: str, args: LoadBalancerArgs, child: pulumi.ResourceOptions
) -> aws.lb.TargetGroup:
    return aws.lb.TargetGroup(
        resource_name,
        name=tg_name,
        port=args.port,
        protocol="HTTP",
        target_type="ip",  # awsvpc tasks register by IP
        vpc_id=args.vpc_id,
        # Longer than the longest request and shorter than the container's stop timeout (timing.py):
        # a task leaving service finishes what it accepted.
        deregistration_delay=args.deregistration_delay,
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


class _Domain:
    """A domain's validated certificate and alias record for one load balancer."""

    def __init__(self, name: str, args: LoadBalancerArgs, alb: aws.lb.LoadBalancer, child: pulumi.ResourceOptions) -> None:
        assert args.domain_name and args.hosted_zone_id
        self.certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=args.domain_name,
            validation_method="DNS",
            tags=name_tag(args.namer.name(f"{args.alb_part}-certificate")),
            opts=child,
        )
        option = self.certificate.domain_validation_options.apply(lambda options: options[0])
        validation_record = aws.route53.Record(
            f"{name}-certificate-validation-record",
            zone_id=args.hosted_zone_id,
            name=option.apply(lambda o: o.resource_record_name),
            type=option.apply(lambda o: o.resource_record_type),
            records=[option.apply(lambda o: o.resource_record_value or "")],
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
        # The validated ARN: a listener using it waits until the certificate is issued.
        self.certificate_arn = validation.certificate_arn
        self.alias_record = aws.route53.Record(
            f"{name}-alias",
            zone_id=args.hosted_zone_id,
            name=args.domain_name,
            type="A",
            aliases=[aws.route53.RecordAliasArgs(name=alb.dns_name, zone_id=alb.zone_id, evaluate_target_health=True)],
            opts=child,
        )


def _redirect_to_https(
    name: str, args: LoadBalancerArgs, alb: aws.lb.LoadBalancer, child: pulumi.ResourceOptions
) -> aws.lb.Listener:
    return aws.lb.Listener(
        f"{name}-http",
        load_balancer_arn=alb.arn,
        port=80,
        protocol="HTTP",
        default_actions=[
            aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(protocol="HTTPS", port="443", status_code="HTTP_301"),
            )
        ],
        tags=name_tag(args.namer.name(f"{args.alb_part}-http")),
        opts=child,
    )


class LoadBalancer(pulumi.ComponentResource):
    """A rolling-deployment service's load balancer: one target group behind path rules."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "LoadBalancer"), name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        self.alb = application_load_balancer(name, args, child)
        self.target_group = service_target_group(f"{name}-tg", n.name(args.target_group_part, kind="target-group"), args, child)

        self.certificate: aws.acm.Certificate | None = None
        self.https_listener: aws.lb.Listener | None = None
        if args.domain_name and args.hosted_zone_id:
            domain = _Domain(name, args, self.alb, child)
            self.certificate = domain.certificate
            self.https_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=args.ssl_policy,
                certificate_arn=domain.certificate_arn,
                default_actions=[not_found()],
                tags=name_tag(n.name(f"{args.alb_part}-https")),
                opts=child,
            )
            self.http_listener = _redirect_to_https(name, args, self.alb, child)
            self.alias_record = domain.alias_record
            serving = self.https_listener
        else:
            self.http_listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[not_found()],
                tags=name_tag(n.name(f"{args.alb_part}-http")),
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
                tags=name_tag(n.name(f"{args.alb_part}-{key}")),
                opts=child,
            )
            for key, priority, path in args.routes
        ]
        self.register_outputs({"albDnsName": self.alb.dns_name, "targetGroupArn": self.target_group.arn})


# Ports of the test listener, on which CodeDeploy exposes the new (green) tasks before it shifts
# production traffic; next to 80/443 by convention.
TEST_LISTENER_PORT_HTTP = 8080
TEST_LISTENER_PORT_HTTPS = 8443
# CodeDeploy moves production and test traffic by rewriting these listeners' default actions;
# Pulumi must not put them back after a release (it would send traffic to the idle target group).
LISTENER_IGNORED_AFTER_RELEASE = ("defaultActions",)


def testing_port(https: bool) -> int:
    return TEST_LISTENER_PORT_HTTPS if https else TEST_LISTENER_PORT_HTTP


class BlueGreenLoadBalancer(pulumi.ComponentResource):
    """A CodeDeploy blue/green service's load balancer: blue and green target groups, a production
    listener (80, or 443 with a domain) and a test listener (8080, or 8443) that start on blue and
    green respectively; CodeDeploy swaps them on every release."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "BlueGreenLoadBalancer"), name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        after_release = pulumi.ResourceOptions(parent=self, ignore_changes=list(LISTENER_IGNORED_AFTER_RELEASE))
        self.alb = application_load_balancer(name, args, child)
        self.blue = service_target_group(f"{name}-blue", n.name(f"{args.target_group_part}-b", kind="target-group"), args, child)
        self.green = service_target_group(
            f"{name}-green", n.name(f"{args.target_group_part}-g", kind="target-group"), args, child
        )

        self.https = bool(args.domain_name and args.hosted_zone_id)
        self.test_port = testing_port(self.https)
        self.certificate: aws.acm.Certificate | None = None
        self.http_redirect: aws.lb.Listener | None = None
        certificate_arn: pulumi.Input[str] | None = None
        if self.https:
            domain = _Domain(name, args, self.alb, child)
            self.certificate = domain.certificate
            certificate_arn = domain.certificate_arn
        protocol = "HTTPS" if self.https else "HTTP"
        ssl_policy = args.ssl_policy if self.https else None
        self.production_listener = aws.lb.Listener(
            f"{name}-production",
            load_balancer_arn=self.alb.arn,
            port=443 if self.https else 80,
            protocol=protocol,
            default_actions=[forward(self.blue)],
            tags=name_tag(n.name(f"{args.alb_part}-production")),
            ssl_policy=ssl_policy,
            certificate_arn=certificate_arn,
            opts=after_release,
        )
        self.test_listener = aws.lb.Listener(
            f"{name}-test",
            load_balancer_arn=self.alb.arn,
            port=self.test_port,
            protocol=protocol,
            default_actions=[forward(self.green)],
            tags=name_tag(n.name(f"{args.alb_part}-test")),
            ssl_policy=ssl_policy,
            certificate_arn=certificate_arn,
            opts=after_release,
        )
        if self.https:
            # Port 80 is the production listener's until it has moved to 443 (which waits for the
            # certificate): an environment that gains a domain would otherwise get a second
            # listener on 80 first, which ELB refuses (DuplicateListener).
            after_production = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.production_listener]))
            self.http_redirect = _redirect_to_https(name, args, self.alb, after_production)
        self.register_outputs({"albDnsName": self.alb.dns_name, "productionListenerArn": self.production_listener.arn})
