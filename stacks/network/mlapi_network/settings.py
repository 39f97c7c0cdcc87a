"""The network layer's settings, read once and validated before any resource is declared."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from shared.config import ConfigReader
from shared.errors import ConfigError
from shared.settings import EnvironmentSettings

LAYER = "network"
AZ_COUNT = 3
PAYMENTS = "payments"
# AWS services the payment tasks reach at start through interface endpoints: image manifests and
# auth (ecr.api), image layers (ecr.dkr, then S3 through the gateway endpoint), the awslogs driver
# (logs) and the task definition's `secrets` (secretsmanager). No kms endpoint: Secrets Manager,
# CloudWatch Logs and ECR call KMS themselves on the service side, the task never does.
INTERFACE_ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


@dataclass(frozen=True)
class NetworkSettings:
    env: EnvironmentSettings
    vpc_cidr: ipaddress.IPv4Network
    nat_gateway_per_az: bool
    service_port: int
    database_port: int
    alb_ingress_source: str
    alb_listener_ports: tuple[int, ...]
    flow_log_retention_days: int
    # Whether the environment has the payments layer: its security groups exist only then.
    payments: bool
    interface_endpoints: bool
    payments_service_port: int
    payments_listener_ports: tuple[int, ...]
    payments_test_listener_port: int
    payments_alb_ingress_cidrs: tuple[str, ...]
    payments_test_listener_cidrs: tuple[str, ...]

    @property
    def private_subnet_cidrs(self) -> list[str]:
        return [str(net) for net in split_vpc(self.vpc_cidr)[0]]

    @property
    def public_subnet_cidrs(self) -> list[str]:
        return [str(net) for net in split_vpc(self.vpc_cidr)[1]]

    @classmethod
    def load(cls, reader: ConfigReader | None = None, env: EnvironmentSettings | None = None) -> NetworkSettings:
        env = env or EnvironmentSettings.load(LAYER, reader)
        reader = reader or ConfigReader(env.project)
        ports = reader.string_list(
            "albListenerPorts",
            ("80", "443"),
            each=lambda p: p.isdigit() and 1 <= int(p) <= 65535,
            allowed="port numbers from 1 to 65535",
        )
        payments = env.has_layer(PAYMENTS)
        endpoints = reader.choice("interfaceEndpoints", "auto", ("auto", "on", "off"))
        # At most /23: the public subnets (the ALB's) are then /27, the smallest AWS allows a load balancer.
        vpc_cidr = reader.cidr("vpcCidr", "10.0.0.0/16", min_prefix=16, max_prefix=23)
        payment_ports = reader.string_list(
            "paymentsListenerPorts",
            ("80",),
            each=lambda p: p.isdigit() and 1 <= int(p) <= 65535,
            allowed="port numbers from 1 to 65535",
        )
        if not payment_ports:
            raise reader.fail(
                "paymentsListenerPorts", [], "at least one port: the payments load balancer's production listener port(s)"
            )
        test_port = reader.integer("paymentsTestListenerPort", 8080, minimum=1, maximum=65535)
        if test_port in {int(p) for p in payment_ports}:
            raise reader.fail(
                "paymentsTestListenerPort",
                test_port,
                f"a port other than the production listener ports {', '.join(payment_ports)}: the test listener serves "
                "the not-yet-released version and is opened only to paymentsTestListenerCidrs",
            )
        ingress_cidrs = _cidrs(reader, "paymentsAlbIngressCidrs", ("0.0.0.0/0",), allow_world=True)
        # Default: only the VPC itself (smoke tests run from inside it): the test listener answers
        # with the version that has not been released yet.
        test_cidrs = _cidrs(reader, "paymentsTestListenerCidrs", (), allow_world=False) or (str(vpc_cidr),)
        return cls(
            env=env,
            vpc_cidr=vpc_cidr,
            nat_gateway_per_az=reader.boolean("natGatewayPerAz", False),
            service_port=reader.integer("servicePort", 8080, minimum=1024, maximum=65535),
            database_port=reader.integer("databasePort", 5432, minimum=1150, maximum=65535),
            alb_ingress_source=reader.choice("albIngressSource", "cloudfront", ("cloudfront", "internet")),
            alb_listener_ports=tuple(int(p) for p in ports),
            flow_log_retention_days=reader.log_retention("flowLogRetentionDays", 30),
            payments=payments,
            interface_endpoints=payments if endpoints == "auto" else endpoints == "on",
            payments_service_port=reader.integer("paymentsServicePort", 8080, minimum=1024, maximum=65535),
            payments_listener_ports=tuple(int(p) for p in payment_ports),
            payments_test_listener_port=test_port,
            payments_alb_ingress_cidrs=ingress_cidrs,
            payments_test_listener_cidrs=test_cidrs,
        )


def _cidrs(reader: ConfigReader, key: str, default: tuple[str, ...], *, allow_world: bool) -> tuple[str, ...]:
    """A list of IPv4 CIDRs, normalised; ``allow_world`` False refuses 0.0.0.0/0."""
    allowed = "IPv4 networks in CIDR form, for example 10.0.0.0/16 or 203.0.113.0/24"
    if not allow_world:
        allowed += ", not 0.0.0.0/0 (the test listener serves the version not yet released)"

    def valid(text: str) -> bool:
        try:
            network = ipaddress.IPv4Network(text, strict=True)
        except ValueError:
            return False
        return allow_world or network.prefixlen > 0

    items = reader.string_list(key, default, each=valid, allowed=allowed)
    cidrs = tuple(str(ipaddress.IPv4Network(item)) for item in items)
    # One ingress rule per CIDR: a repeated one would be a second, identical rule, which EC2
    # refuses (InvalidPermission.Duplicate) halfway through the deploy.
    repeated = sorted({c for c in cidrs if cidrs.count(c) > 1})
    if repeated:
        raise ConfigError(reader.setting(key), list(items), f"each network once ({', '.join(repeated)} is listed more than once)")
    return cidrs


def split_vpc(vpc: ipaddress.IPv4Network) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv4Network]]:
    """Private subnets get three quarters of the VPC (tasks and database ENIs need the room);
    the public subnets share the last quarter (they hold only the ALB and NAT gateways).

    10.0.0.0/16 -> private 10.0.0.0/18, 10.0.64.0/18, 10.0.128.0/18; public 10.0.192.0/20,
    10.0.208.0/20, 10.0.224.0/20.
    """
    quarters = list(vpc.subnets(prefixlen_diff=2))
    private = quarters[:AZ_COUNT]
    public = list(quarters[3].subnets(prefixlen_diff=2))[:AZ_COUNT]
    return private, public
