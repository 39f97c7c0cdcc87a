"""CodeDeploy blue/green for the payments service: the application, its deployment group and a
least-privilege service role.

The role is not the managed ``AWSCodeDeployRoleForECS`` (``Resource: "*"`` on ECS, ELB, S3, SNS,
Lambda, CloudWatch and PassRole): it names this service, its task sets, the two listeners and
their rules, the alarms and the two task roles. What remains ``*`` is Elastic Load Balancing's
``Describe*`` calls, which IAM does not authorize per resource (they have no resource types).
A release with lifecycle hooks (Lambda) or an AppSpec in S3 needs those permissions added.
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

# The ELB reads CodeDeploy makes while shifting traffic; none has a resource type in IAM.
ELB_DESCRIBE_ACTIONS = (
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
)
# What CodeDeploy calls on ECS, grouped by the resource type IAM authorizes each against (Service
# Authorization Reference, Amazon ECS): DescribeServices and UpdateServicePrimaryTaskSet on the
# service; CreateTaskSet, DeleteTaskSet and DescribeTaskSets on a task set (for CreateTaskSet, the
# one being created). An action granted on the wrong type is simply denied: the first release fails.
ECS_SERVICE_ACTIONS = ("ecs:DescribeServices", "ecs:UpdateServicePrimaryTaskSet")
ECS_TASK_SET_ACTIONS = ("ecs:CreateTaskSet", "ecs:DeleteTaskSet", "ecs:DescribeTaskSets")


@dataclass(frozen=True)
class BlueGreenDeploymentArgs:
    namer: Namer
    region: str
    identity: AwsIdentity
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    production_listener_arn: pulumi.Input[str]
    test_listener_arn: pulumi.Input[str]
    blue_target_group_name: pulumi.Input[str]
    green_target_group_name: pulumi.Input[str]
    # The alarms that stop a release and roll it back.
    alarm_names: Sequence[pulumi.Input[str]]
    alarm_arns: Sequence[pulumi.Input[str]]
    # The roles a new task set's task definition names (CodeDeploy passes them to ECS).
    task_role_arns: Sequence[pulumi.Input[str]]
    deployment_config: str
    termination_wait_minutes: int


def _rules_of(listener_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """ARN pattern of a listener's rules: ...:listener/app/<alb>/<id>/<listener id> ->
    ...:listener-rule/app/<alb>/<id>/<listener id>/*."""
    return pulumi.Output.from_input(listener_arn).apply(lambda arn: arn.replace(":listener/", ":listener-rule/", 1) + "/*")


class BlueGreenDeployment(pulumi.ComponentResource):
    def __init__(self, name: str, args: BlueGreenDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:payments:BlueGreenDeployment", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        ecs_arn = pulumi.Output.concat("arn:", args.identity.partition, ":ecs:", args.region, ":", args.identity.account_id, ":")
        service_arn = pulumi.Output.concat(ecs_arn, "service/", args.cluster_name, "/", args.service_name)
        task_sets_arn = pulumi.Output.concat(ecs_arn, "task-set/", args.cluster_name, "/", args.service_name, "/*")

        self.role = aws.iam.Role(
            f"{name}-role",
            name=n.name("payments-codedeploy", kind="iam-role"),
            description="CodeDeploy shifts the payments service between its blue and green task sets with it",
            assume_role_policy=policies.assume_role_policy("codedeploy.amazonaws.com", args.identity),
            tags=name_tag(n.name("payments-codedeploy")),
            opts=child,
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=policies.document(
                policies.statement("ShiftService", ECS_SERVICE_ACTIONS, [service_arn]),
                policies.statement("ManageTaskSets", ECS_TASK_SET_ACTIONS, [task_sets_arn]),
                # CreateTaskSet with tags is also authorized as ecs:TagResource; allowed only while
                # creating this service's task sets, never to retag anything existing.
                policies.statement(
                    "TagNewTaskSets",
                    ["ecs:TagResource"],
                    [task_sets_arn],
                    Condition={"StringEquals": {"ecs:CreateAction": "CreateTaskSet"}},
                ),
                # Elastic Load Balancing authorizes Describe* only against "*" (no resource types).
                policies.statement("ReadLoadBalancing", ELB_DESCRIBE_ACTIONS, ["*"]),
                policies.statement(
                    "ShiftTraffic",
                    ["elasticloadbalancing:ModifyListener"],
                    [args.production_listener_arn, args.test_listener_arn],
                ),
                policies.statement(
                    "ShiftTrafficRules",
                    ["elasticloadbalancing:ModifyRule"],
                    [_rules_of(args.production_listener_arn), _rules_of(args.test_listener_arn)],
                ),
                policies.statement("ReadRollbackAlarms", ["cloudwatch:DescribeAlarms"], list(args.alarm_arns)),
                policies.statement(
                    "PassTaskRoles",
                    ["iam:PassRole"],
                    list(args.task_role_arns),
                    Condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                ),
            ),
            opts=child,
        )
        self.application = aws.codedeploy.Application(
            f"{name}-application",
            name=n.name("payments"),
            compute_platform="ECS",
            tags=name_tag(n.name("payments")),
            opts=child,
        )
        group_name = n.name("payments-blue-green")
        self.group = aws.codedeploy.DeploymentGroup(
            f"{name}-group",
            app_name=self.application.name,
            deployment_group_name=group_name,
            service_role_arn=self.role.arn,
            deployment_config_name=args.deployment_config,
            deployment_style=aws.codedeploy.DeploymentGroupDeploymentStyleArgs(
                deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
            ),
            blue_green_deployment_config=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigArgs(
                # Shift as soon as the green tasks are healthy (the test listener serves them first).
                deployment_ready_option=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOptionArgs(
                    action_on_timeout="CONTINUE_DEPLOYMENT"
                ),
                # Blue tasks stay this long after the shift, so a rollback is instant meanwhile.
                terminate_blue_instances_on_deployment_success=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccessArgs(
                    action="TERMINATE", termination_wait_time_in_minutes=args.termination_wait_minutes
                ),
            ),
            ecs_service=aws.codedeploy.DeploymentGroupEcsServiceArgs(
                cluster_name=args.cluster_name, service_name=args.service_name
            ),
            load_balancer_info=aws.codedeploy.DeploymentGroupLoadBalancerInfoArgs(
                target_group_pair_info=aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoArgs(
                    prod_traffic_route=aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRouteArgs(
                        listener_arns=[args.production_listener_arn]
                    ),
                    test_traffic_route=aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRouteArgs(
                        listener_arns=[args.test_listener_arn]
                    ),
                    target_groups=[
                        aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs(name=group)
                        for group in (args.blue_target_group_name, args.green_target_group_name)
                    ],
                )
            ),
            auto_rollback_configuration=aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs(
                enabled=True, events=["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
            ),
            alarm_configuration=aws.codedeploy.DeploymentGroupAlarmConfigurationArgs(enabled=True, alarms=list(args.alarm_names)),
            tags=name_tag(group_name),
            # CodeDeploy checks the role's permissions when the group is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
        self.register_outputs({"applicationName": self.application.name, "deploymentGroupName": self.group.deployment_group_name})
