"""Network layer: settings -> components -> exports."""

from mlapi_network.flow_logs import FlowLogs, FlowLogsArgs
from mlapi_network.security_groups import SecurityGroups, SecurityGroupsArgs
from mlapi_network.settings import LAYER, NetworkSettings
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
    },
)
