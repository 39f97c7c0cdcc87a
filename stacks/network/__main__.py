"""Network layer: settings -> components -> exports."""

import pulumi

from mlapi_network.endpoints import InterfaceEndpoints, InterfaceEndpointsArgs
from mlapi_network.flow_logs import FlowLogs, FlowLogsArgs
from mlapi_network.security_groups import (
    PaymentsSecurityGroups,
    PaymentsSecurityGroupsArgs,
    SecurityGroups,
    SecurityGroupsArgs,
)
from mlapi_network.settings import INTERFACE_ENDPOINT_SERVICES, LAYER, PAYMENTS, NetworkSettings
from mlapi_network.vpc import Vpc, VpcArgs
from mlapi_network.zones import availability_zones
from shared import contracts
from shared.aws_identity import AwsIdentity
from shared.provider import aws_provider, with_provider

settings = NetworkSettings.load()
env = settings.env
provider = aws_provider(env)
opts = with_provider(provider)
zones = availability_zones(provider, env.region)

vpc = Vpc(
    "main",
    VpcArgs(
        namer=env.namer,
        region=env.region,
        cidr=str(settings.vpc_cidr),
        availability_zones=zones,
        public_subnet_cidrs=settings.public_subnet_cidrs,
        private_subnet_cidrs=settings.private_subnet_cidrs,
        nat_gateway_per_az=settings.nat_gateway_per_az,
    ),
    opts,
)
flow_logs = FlowLogs(
    "flow-logs",
    FlowLogsArgs(
        namer=env.namer,
        region=env.region,
        identity=AwsIdentity.lookup(provider),
        vpc_id=vpc.vpc.id,
        retention_days=settings.flow_log_retention_days,
        key_deletion_window_days=env.key_deletion_window_days,
    ),
    opts,
)
groups = SecurityGroups(
    "sg",
    SecurityGroupsArgs(
        namer=env.namer,
        vpc_id=vpc.vpc.id,
        service_port=settings.service_port,
        database_port=settings.database_port,
        alb_ingress_source=settings.alb_ingress_source,
        alb_listener_ports=settings.alb_listener_ports,
    ),
    opts,
)
payments = (
    PaymentsSecurityGroups(
        "payments-sg",
        PaymentsSecurityGroupsArgs(
            namer=env.namer,
            vpc_id=vpc.vpc.id,
            database_security_group_id=groups.database.id,
            database_port=settings.database_port,
            service_port=settings.payments_service_port,
            listener_ports=settings.payments_listener_ports,
            ingress_cidrs=settings.payments_alb_ingress_cidrs,
            test_listener_port=settings.payments_test_listener_port,
            test_listener_cidrs=settings.payments_test_listener_cidrs,
        ),
        opts,
    )
    if settings.payments
    else None
)
endpoint_clients: dict[str, pulumi.Input[str]] = {}
if env.has_layer("compute"):
    endpoint_clients["compute"] = groups.service.id
if payments is not None:
    endpoint_clients[PAYMENTS] = payments.service.id
endpoints = (
    InterfaceEndpoints(
        "endpoints",
        InterfaceEndpointsArgs(
            namer=env.namer,
            region=env.region,
            vpc_id=vpc.vpc.id,
            subnet_ids=[s.id for s in vpc.private_subnets],
            services=INTERFACE_ENDPOINT_SERVICES,
            client_security_group_ids=endpoint_clients,
        ),
        opts,
    )
    if settings.interface_endpoints
    else None
)

contracts.export(
    LAYER,
    {
        "vpcId": vpc.vpc.id,
        "vpcCidr": vpc.vpc.cidr_block,
        "availabilityZones": zones,
        "publicSubnetIds": [s.id for s in vpc.public_subnets],
        "privateSubnetIds": [s.id for s in vpc.private_subnets],
        "privateRouteTableIds": [t.id for t in vpc.private_route_tables],
        "natGatewayIds": [g.id for g in vpc.nat_gateways],
        "albSecurityGroupId": groups.alb.id,
        "serviceSecurityGroupId": groups.service.id,
        "databaseSecurityGroupId": groups.database.id,
        "servicePort": settings.service_port,
        "databasePort": settings.database_port,
        "flowLogGroupName": flow_logs.log_group.name,
        # Empty string, 0 and an empty map when the environment has no payments layer / no endpoints.
        "paymentsAlbSecurityGroupId": payments.alb.id if payments else "",
        "paymentsServiceSecurityGroupId": payments.service.id if payments else "",
        "paymentsServicePort": settings.payments_service_port if payments else 0,
        "endpointSecurityGroupId": endpoints.security_group.id if endpoints else "",
        "interfaceEndpointIds": {service: e.id for service, e in endpoints.endpoints.items()} if endpoints else {},
    },
)
