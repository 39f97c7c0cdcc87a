"""The two roles of the service's tasks, each with exactly what it needs.

* execution role (used by ECS to start a task): pull the image, write the log group, read the
  secrets it injects and decrypt them with the data layer's key;
* task role (used by the application): what the layer grants its application (``application_statements``,
  for example the compute layer's session table), and ECS Exec's channels and session logs.

Two resources are ``*`` because AWS offers nothing narrower: ``ecr:GetAuthorizationToken``
(a registry-wide token; the action has no resource type) and the ``ssmmessages:*Channel`` actions
ECS Exec needs (Session Manager's message gateway has no resource types either). Every other
statement names ARNs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .. import policies
from ..aws_identity import AwsIdentity
from ..naming import Namer
from ..tags import name_tag
from . import component_type

ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ECS_EXEC_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


@dataclass(frozen=True)
class TaskRolesArgs:
    namer: Namer
    region: str
    identity: AwsIdentity
    repository_arn: pulumi.Input[str]
    log_group_arn: pulumi.Input[str]
    secret_arns: pulumi.Input[Sequence[str]]
    # The key the injected secrets are encrypted with.
    secret_kms_key_arn: pulumi.Input[str]
    # The key the cluster encrypts ECS Exec sessions with.
    exec_kms_key_arn: pulumi.Input[str]
    enable_execute_command: bool
    execution_role_description: str
    task_role_description: str
    # The application's own permissions, first in the task role's policy.
    application_statements: Sequence[object] = ()
    # Role names are mlapi-<prefix>task-execution-<suffix> and mlapi-<prefix>task-<suffix>.
    name_prefix: str = ""


def via(service: str, region: str) -> dict[str, object]:
    return {"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com"}}


class TaskRoles(pulumi.ComponentResource):
    def __init__(self, name: str, args: TaskRolesArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "TaskRoles"), name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        trust = policies.assume_role_policy("ecs-tasks.amazonaws.com", args.identity)

        self.execution_role = aws.iam.Role(
            f"{name}-execution",
            name=n.name(f"{args.name_prefix}task-execution", kind="iam-role"),
            description=args.execution_role_description,
            assume_role_policy=trust,
            tags=name_tag(n.name(f"{args.name_prefix}task-execution")),
            opts=child,
        )
        execution_policy = aws.iam.RolePolicy(
            f"{name}-execution-policy",
            role=self.execution_role.id,
            policy=policies.document(
                # The one unavoidable "*": GetAuthorizationToken has no resource type.
                policies.statement("RegistryToken", ["ecr:GetAuthorizationToken"], ["*"]),
                policies.statement("PullServiceImages", ECR_PULL_ACTIONS, [args.repository_arn]),
                policies.statement(
                    "WriteServiceLogs",
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [args.log_group_arn, pulumi.Output.concat(args.log_group_arn, ":log-stream:*")],
                ),
                # Exactly the secrets the task definition injects (a list known only at deployment).
                {
                    "Sid": "ReadInjectedSecrets",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue"],
                    "Resource": args.secret_arns,
                },
                policies.statement(
                    "DecryptInjectedSecrets",
                    ["kms:Decrypt"],
                    [args.secret_kms_key_arn],
                    Condition=via("secretsmanager", args.region),
                ),
            ),
            opts=child,
        )

        self.task_role = aws.iam.Role(
            f"{name}-task",
            name=n.name(f"{args.name_prefix}task", kind="iam-role"),
            description=args.task_role_description,
            assume_role_policy=trust,
            tags=name_tag(n.name(f"{args.name_prefix}task")),
            opts=child,
        )
        statements: list[object] = list(args.application_statements)
        if args.enable_execute_command:
            statements += [
                # Session Manager's message gateway has no resource types: "*" is the only form.
                policies.statement("EcsExecChannels", ECS_EXEC_ACTIONS, ["*"]),
                # The cluster encrypts ECS Exec sessions with this key.
                policies.statement("EcsExecSessionDecrypt", ["kms:Decrypt"], [args.exec_kms_key_arn]),
                # With the cluster's DEFAULT exec logging, the SSM agent inside the task writes each
                # session's commands and output to the container's awslogs group with the *task*
                # role (ECS Exec "logging and auditing"); without these the audit trail is lost.
                policies.statement(
                    "EcsExecSessionLogs",
                    ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                    [args.log_group_arn, pulumi.Output.concat(args.log_group_arn, ":log-stream:*")],
                ),
                # The agent first looks the group up. IAM authorizes DescribeLogGroups against an
                # account-level ARN (...:log-group::log-stream:), so log-group:* in this account and
                # region is the narrowest Resource that works (it lists names, reads no events).
                policies.statement(
                    "EcsExecFindLogGroup",
                    ["logs:DescribeLogGroups"],
                    [policies.log_group_arn(args.identity, args.region, "*")],
                ),
            ]
        # What a task needs before it can start: the service waits for these (IAM is eventually
        # consistent, and a task started before its policy exists fails to pull or to read secrets).
        self.policies = [execution_policy]
        # IAM refuses a policy without statements: an application that needs no AWS access and
        # no ECS Exec gets a role with no permissions at all.
        if statements:
            task_policy = aws.iam.RolePolicy(
                f"{name}-task-policy",
                role=self.task_role.id,
                policy=policies.document(*statements),
                opts=child,
            )
            self.policies.append(task_policy)
        self.register_outputs({"executionRoleArn": self.execution_role.arn, "taskRoleArn": self.task_role.arn})
