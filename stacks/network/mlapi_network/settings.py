"""The network layer's settings, read once and validated before any resource is declared."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from shared.config import ConfigReader
from shared.settings import EnvironmentSettings

LAYER = "network"
AZ_COUNT = 3


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
        return cls(
            env=env,
            # At most /23: the public subnets (the ALB's) are then /27, the smallest AWS allows a load balancer.
            vpc_cidr=reader.cidr("vpcCidr", "10.0.0.0/16", min_prefix=16, max_prefix=23),
            nat_gateway_per_az=reader.boolean("natGatewayPerAz", False),
            service_port=reader.integer("servicePort", 8080, minimum=1024, maximum=65535),
            database_port=reader.integer("databasePort", 5432, minimum=1150, maximum=65535),
            alb_ingress_source=reader.choice("albIngressSource", "cloudfront", ("cloudfront", "internet")),
            alb_listener_ports=tuple(int(p) for p in ports),
            flow_log_retention_days=reader.log_retention("flowLogRetentionDays", 30),
        )


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
