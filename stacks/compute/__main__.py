"""Compute layer: settings -> components -> exports."""

import pulumi

from mlapi_compute import application
from mlapi_compute.settings import API_PATHS, HEALTH_CHECK_PATH, LAYER, ComputeSettings
from mlapi_compute.upstream import read_data, read_network
from shared import contracts
from shared.aws_identity import AwsIdentity
from shared.provider import aws_provider, with_provider
from shared.service.alarms import Alarms, AlarmsArgs
from shared.service.autoscaling import Autoscaling, AutoscalingArgs, TrackedMetric, requests_per_task
from shared.service.cluster import CapacityStrategy, Cluster, ClusterArgs
from shared.service.load_balancer import LoadBalancer, LoadBalancerArgs
from shared.service.logs import ServiceLogs, ServiceLogsArgs
from shared.service.registry import ImageRegistry, ImageRegistryArgs
from shared.service.roles import TaskRoles, TaskRolesArgs
from shared.service.service import ApiService, ApiServiceArgs
from shared.service.task import ServiceTask, ServiceTaskArgs

settings = ComputeSettings.load()
env = settings.env
provider = aws_provider(env)
opts = with_provider(provider)
identity = AwsIdentity.lookup(provider)
network = read_network(env)
data = read_data(env)
strategy = CapacityStrategy(settings.fargate_base, settings.fargate_weight, settings.fargate_spot_weight)

registry = ImageRegistry(
    "registry",
    ImageRegistryArgs(
        namer=env.namer, kms_key_arn=data.kms_key_arn, keep_images=settings.ecr_keep_images, blocks_deletion=env.blocks_deletion
    ),
    opts,
    layer=LAYER,
)
logs = ServiceLogs(
    "logs",
    ServiceLogsArgs(namer=env.namer, kms_key_arn=data.kms_key_arn, retention_days=settings.log_retention_days),
    opts,
    layer=LAYER,
)
cluster = Cluster(
    "ecs",
    ClusterArgs(
        namer=env.namer, strategy=strategy, kms_key_arn=data.kms_key_arn, enable_execute_command=settings.enable_execute_command
    ),
    opts,
    layer=LAYER,
)
roles = TaskRoles(
    "roles",
    TaskRolesArgs(
        namer=env.namer,
        region=env.region,
        identity=identity,
        repository_arn=registry.repository.arn,
        log_group_arn=logs.log_group.arn,
        secret_arns=application.secret_arns(data),
        secret_kms_key_arn=data.kms_key_arn,
        exec_kms_key_arn=data.kms_key_arn,
        enable_execute_command=settings.enable_execute_command,
        execution_role_description="ECS starts the API tasks with it: image pull, logs, injected secrets",
        task_role_description="The API application's own permissions: session table items, ECS Exec",
        application_statements=application.task_role_statements(data, env.region),
    ),
    opts,
    layer=LAYER,
)
image = (
    pulumi.Output.concat(registry.repository.repository_url, ":", settings.image_tag)
    if settings.image_tag
    else settings.container_image
)
task = ServiceTask(
    "task",
    ServiceTaskArgs(
        namer=env.namer,
        region=env.region,
        image=image,
        placeholder=settings.uses_placeholder_server,
        port=network.service_port,
        cpu=settings.cpu,
        memory=settings.memory,
        log_group_name=logs.log_group.name,
        environment=application.environment(data),
        secrets=application.secrets(data),
        execution_role_arn=roles.execution_role.arn,
        task_role_arn=roles.task_role.arn,
        readonly_root_filesystem=settings.readonly_root_filesystem,
        enable_execute_command=settings.enable_execute_command,
    ),
    opts,
    layer=LAYER,
)
lb = LoadBalancer(
    "lb",
    LoadBalancerArgs(
        namer=env.namer,
        vpc_id=network.vpc_id,
        public_subnet_ids=network.public_subnet_ids,
        security_group_id=network.alb_security_group_id,
        port=network.service_port,
        blocks_deletion=env.blocks_deletion,
        health_check_interval=settings.health_check_interval,
        ssl_policy=settings.alb_ssl_policy,
        domain_name=settings.alb_domain_name,
        hosted_zone_id=settings.hosted_zone_id,
        # Each API version, then the health check (so an external probe, or CloudFront's, sees
        # what the target group sees).
        routes=(("api-v1", 10, API_PATHS[0]), ("api-v2", 20, API_PATHS[1]), ("health", 30, HEALTH_CHECK_PATH)),
    ),
    opts,
    layer=LAYER,
)
service = ApiService(
    "api",
    ApiServiceArgs(
        namer=env.namer,
        cluster_arn=cluster.cluster.arn,
        task_definition_arn=task.task_definition.arn,
        strategy=strategy,
        desired_count=settings.desired_count,
        private_subnet_ids=network.private_subnet_ids,
        security_group_id=network.service_security_group_id,
        target_group_arn=lb.target_group.arn,
        port=network.service_port,
        health_check_grace_period=settings.health_check_grace_period,
        enable_execute_command=settings.enable_execute_command,
        depends_on=[cluster.capacity_providers, *lb.rules, *roles.policies],
    ),
    opts,
    layer=LAYER,
)
Autoscaling(
    "scaling",
    AutoscalingArgs(
        namer=env.namer,
        cluster_name=cluster.cluster.name,
        service_name=service.service.name,
        min_tasks=settings.min_tasks,
        max_tasks=settings.max_tasks,
        # Requests per task (the seed's target), and CPU and memory: an inference request can take a
        # task's CPU long before 1000 requests a minute. Any of them scales out; in only when all agree.
        metrics=[
            requests_per_task(lb.alb.arn_suffix, lb.target_group.arn_suffix, settings.target_requests_per_task),
            TrackedMetric("cpu", "ECSServiceAverageCPUUtilization", settings.cpu_target),
            TrackedMetric("memory", "ECSServiceAverageMemoryUtilization", settings.memory_target),
        ],
        scale_out_cooldown=settings.scale_out_cooldown,
        scale_in_cooldown=settings.scale_in_cooldown,
    ),
    opts,
    layer=LAYER,
)
Alarms(
    "alarms",
    AlarmsArgs(
        namer=env.namer,
        alb_arn_suffix=lb.alb.arn_suffix,
        target_groups={"": lb.target_group.arn_suffix},
        cluster_name=cluster.cluster.name,
        service_name=service.service.name,
        min_tasks=settings.min_tasks,
        topic_arn=settings.alarm_topic_arn,
    ),
    opts,
    layer=LAYER,
)

contracts.export(
    LAYER,
    {
        "albDnsName": lb.alb.dns_name,
        "albArn": lb.alb.arn,
        "albArnSuffix": lb.alb.arn_suffix,
        "albZoneId": lb.alb.zone_id,
        "httpListenerArn": lb.http_listener.arn,
        "httpsListenerArn": lb.https_listener.arn if lb.https_listener else "",
        "targetGroupArn": lb.target_group.arn,
        "clusterName": cluster.cluster.name,
        "serviceName": service.service.name,
        "taskDefinitionArn": task.task_definition.arn,
        "logGroupName": logs.log_group.name,
        "ecrRepositoryUrl": registry.repository.repository_url,
        "originProtocol": "https" if settings.https else "http",
        "originHostname": settings.alb_domain_name if settings.alb_domain_name else lb.alb.dns_name,
    },
)
