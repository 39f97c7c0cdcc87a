"""Payments layer: settings -> components -> exports."""

import pulumi

from mlapi_payments import application
from mlapi_payments.codedeploy import BlueGreenDeployment, BlueGreenDeploymentArgs
from mlapi_payments.key import PaymentsKey, PaymentsKeyArgs
from mlapi_payments.settings import LAYER, PaymentsSettings
from mlapi_payments.upstream import read_data, read_network
from mlapi_payments.waf import PaymentsWaf, PaymentsWafArgs
from shared import contracts
from shared.aws_identity import AwsIdentity
from shared.provider import aws_provider, with_provider
from shared.service.alarms import Alarms, AlarmsArgs
from shared.service.autoscaling import Autoscaling, AutoscalingArgs, TrackedMetric
from shared.service.cluster import Cluster, ClusterArgs
from shared.service.load_balancer import BlueGreenLoadBalancer, LoadBalancerArgs
from shared.service.logs import ServiceLogs, ServiceLogsArgs
from shared.service.registry import ImageRegistry, ImageRegistryArgs
from shared.service.roles import TaskRoles, TaskRolesArgs
from shared.service.service import PLATFORM_VERSION, ApiService, ApiServiceArgs
from shared.service.task import ServiceTask, ServiceTaskArgs

NAME = "payments"

settings = PaymentsSettings.load()
env = settings.env
provider = aws_provider(env, layer_tags=settings.compliance_tags)
opts = with_provider(provider)
identity = AwsIdentity.lookup(provider)
network = read_network(env)
data = read_data(env)
log_group_name = env.namer.log_group(NAME)
waf_log_group_name = "aws-waf-logs-" + env.namer.name(f"{NAME}-waf")

key = PaymentsKey(
    "key",
    PaymentsKeyArgs(
        namer=env.namer,
        region=env.region,
        identity=identity,
        log_group_names=[log_group_name, waf_log_group_name],
        deletion_window_days=env.key_deletion_window_days,
    ),
    opts,
)
registry = ImageRegistry(
    "registry",
    ImageRegistryArgs(
        namer=env.namer,
        kms_key_arn=key.key.arn,
        keep_images=settings.ecr_keep_images,
        blocks_deletion=env.blocks_deletion,
        name_part=NAME,
    ),
    opts,
    layer=LAYER,
)
logs = ServiceLogs(
    "logs",
    ServiceLogsArgs(
        namer=env.namer,
        kms_key_arn=key.key.arn,
        retention_days=settings.log_retention_days,
        name_part=NAME,
        depends_on=[key.key],
    ),
    opts,
    layer=LAYER,
)
cluster = Cluster(
    "ecs",
    ClusterArgs(
        namer=env.namer,
        strategy=settings.strategy,
        kms_key_arn=key.key.arn,
        enable_execute_command=settings.enable_execute_command,
        name_part=f"{NAME}-cluster",
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
        secret_arns=pulumi.Output.from_input(data.master_secret_arn).apply(lambda arn: [arn]),
        secret_kms_key_arn=data.kms_key_arn,
        exec_kms_key_arn=key.key.arn,
        enable_execute_command=settings.enable_execute_command,
        execution_role_description="ECS starts the payments tasks with it: image pull, logs, database credentials",
        task_role_description="The payments application's own permissions: re-read its database credentials, ECS Exec",
        application_statements=application.task_role_statements(data, env.region),
        name_prefix=f"{NAME}-",
    ),
    opts,
    layer=LAYER,
)
image = (
    pulumi.Output.concat(registry.repository.repository_url, ":", settings.image.image_tag)
    if settings.image.image_tag
    else settings.image.container_image
)
task = ServiceTask(
    "task",
    ServiceTaskArgs(
        namer=env.namer,
        region=env.region,
        image=image,
        placeholder=settings.image.uses_placeholder_server,
        port=network.service_port,
        cpu=settings.cpu,
        memory=settings.memory,
        log_group_name=logs.log_group.name,
        environment=application.environment(data),
        secrets=application.secrets(data),
        execution_role_arn=roles.execution_role.arn,
        task_role_arn=roles.task_role.arn,
        readonly_root_filesystem=True,
        enable_execute_command=settings.enable_execute_command,
        family_part=NAME,
        container_name=NAME,
    ),
    opts,
    layer=LAYER,
)
lb = BlueGreenLoadBalancer(
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
        alb_part="pay",
        target_group_part="pay",
    ),
    opts,
    layer=LAYER,
)
PaymentsWaf(
    "waf",
    PaymentsWafArgs(
        acl_name=env.namer.name(f"{NAME}-waf", kind="waf"),
        log_group_name=waf_log_group_name,
        kms_key_arn=key.key.arn,
        log_retention_days=settings.log_retention_days,
        rate_limit=settings.waf_rate_limit,
        load_balancer_arn=lb.alb.arn,
        key=key.key,
    ),
    opts,
)
service = ApiService(
    "service",
    ApiServiceArgs(
        namer=env.namer,
        cluster_arn=cluster.cluster.arn,
        task_definition_arn=task.task_definition.arn,
        strategy=settings.strategy,
        desired_count=settings.desired_count,
        private_subnet_ids=network.private_subnet_ids,
        security_group_id=network.service_security_group_id,
        target_group_arn=lb.blue.arn,
        port=network.service_port,
        health_check_grace_period=settings.health_check_grace_period,
        enable_execute_command=settings.enable_execute_command,
        depends_on=[cluster.capacity_providers, lb.production_listener, lb.test_listener, *roles.policies],
        controller="CODE_DEPLOY",
        name_part=NAME,
        container_name=NAME,
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
        metrics=[
            TrackedMetric("cpu", "ECSServiceAverageCPUUtilization", settings.cpu_target),
            TrackedMetric("memory", "ECSServiceAverageMemoryUtilization", settings.memory_target),
        ],
        scale_out_cooldown=settings.scale_out_cooldown,
        scale_in_cooldown=settings.scale_in_cooldown,
        name_part=NAME,
    ),
    opts,
    layer=LAYER,
)
alarms = Alarms(
    "alarms",
    AlarmsArgs(
        namer=env.namer,
        alb_arn_suffix=lb.alb.arn_suffix,
        target_groups={"blue": lb.blue.arn_suffix, "green": lb.green.arn_suffix},
        cluster_name=cluster.cluster.name,
        service_name=service.service.name,
        min_tasks=settings.min_tasks,
        topic_arn=settings.alarm_topic_arn,
        cpu_threshold=settings.cpu_alarm,
        memory_threshold=settings.memory_alarm,
        name_part=NAME,
    ),
    opts,
    layer=LAYER,
)
# A release stops and rolls back on what users would notice: errors and unhealthy tasks on either
# target group, and the load balancer's own 5xx (CPU and memory are autoscaling's business).
rollback_alarms = [
    alarm for key_, alarm in alarms.alarms.items() if key_.startswith(("unhealthy-hosts", "target-5xx", "alb-5xx"))
]
deployment = BlueGreenDeployment(
    "deploy",
    BlueGreenDeploymentArgs(
        namer=env.namer,
        region=env.region,
        identity=identity,
        cluster_name=cluster.cluster.name,
        service_name=service.service.name,
        production_listener_arn=lb.production_listener.arn,
        test_listener_arn=lb.test_listener.arn,
        blue_target_group_name=lb.blue.name,
        green_target_group_name=lb.green.name,
        alarm_names=[alarm.name for alarm in rollback_alarms],
        alarm_arns=[alarm.arn for alarm in rollback_alarms],
        task_role_arns=[roles.execution_role.arn, roles.task_role.arn],
        deployment_config=settings.deployment_config,
        termination_wait_minutes=settings.termination_wait_minutes,
    ),
    opts,
)

contracts.export(
    LAYER,
    {
        "vpcId": network.vpc_id,
        "clusterName": cluster.cluster.name,
        "clusterArn": cluster.cluster.arn,
        "serviceName": service.service.name,
        "ecrRepositoryUrl": registry.repository.repository_url,
        "albDnsName": lb.alb.dns_name,
        "albArn": lb.alb.arn,
        "albArnSuffix": lb.alb.arn_suffix,
        "productionListenerArn": lb.production_listener.arn,
        "testListenerArn": lb.test_listener.arn,
        "testListenerPort": lb.test_port,
        "blueTargetGroupArn": lb.blue.arn,
        "greenTargetGroupArn": lb.green.arn,
        "targetGroupArnSuffixes": [lb.blue.arn_suffix, lb.green.arn_suffix],
        "logGroupName": logs.log_group.name,
        "logKmsKeyArn": key.key.arn,
        "taskDefinitionArn": task.task_definition.arn,
        "taskFamily": task.family,
        "containerName": NAME,
        "containerPort": network.service_port,
        "databaseSecretArn": data.master_secret_arn,
        "codedeployApplicationName": deployment.application.name,
        "codedeployDeploymentGroupName": deployment.group.deployment_group_name,
        # What a release's AppSpec carries: the service ignores changes to them under CODE_DEPLOY.
        "serviceSubnetIds": network.private_subnet_ids,
        "serviceSecurityGroupIds": [network.service_security_group_id],
        "capacityProviderStrategy": [
            {"capacityProvider": provider, "base": base, "weight": weight} for provider, base, weight in settings.strategy.items()
        ],
        "platformVersion": PLATFORM_VERSION,
    },
)
