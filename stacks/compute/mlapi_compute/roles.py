"""The two roles of the service's tasks, each with exactly what it needs.

* execution role (used by ECS to start a task): pull the image, write the log group, read the
  secrets it injects and decrypt them with the data layer's key;
* task role (used by the application): the session table's items, and ECS Exec's channels and
  session logs.

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

from shared import policies
from shared.aws_identity import AwsIdentity
from shared.naming import Namer
from shared.tags import name_tag

ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
# Item-level access only: no Scan (sessions are read by key), no table administration.
SESSION_TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
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
    kms_key_arn: pulumi.Input[str]
    session_table_arn: pulumi.Input[str]
    enable_execute_command: bool


def _via(service: str, region: str) -> dict[str, object]:
    return {"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com"}}


class TaskRoles(pulumi.ComponentResource):
    def __init__(self, name: str, args: TaskRolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:compute:TaskRoles", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        trust = policies.assume_role_policy("ecs-tasks.amazonaws.com", args.identity)

        self.execution_role = aws.iam.Role(
            f"{name}-execution",
            name=n.name("task-execution", kind="iam-role"),
            description="ECS starts the API tasks with it: image pull, logs, injected secrets",
            assume_role_policy=trust,
            tags=name_tag(n.name("task-execution")),
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
                    [args.kms_key_arn],
                    Condition=_via("secretsmanager", args.region),
                ),
            ),
            opts=child,
        )

        self.task_role = aws.iam.Role(
            f"{name}-task",
            name=n.name("task", kind="iam-role"),
            description="The API application's own permissions: session table items, ECS Exec",
            assume_role_policy=trust,
            tags=name_tag(n.name("task")),
            opts=child,
        )
        statements: list[object] = [
            policies.statement(
                "SessionTableItems",
                SESSION_TABLE_ACTIONS,
                [args.session_table_arn, pulumi.Output.concat(args.session_table_arn, "/index/*")],
            ),
            # The table is encrypted with the data layer's key; usable only through DynamoDB.
            policies.statement(
                "SessionTableEncryption",
                ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
                [args.kms_key_arn],
                Condition=_via("dynamodb", args.region),
            ),
        ]
        if args.enable_execute_command:
            statements += [
                # Session Manager's message gateway has no resource types: "*" is the only form.
                policies.statement("EcsExecChannels", ECS_EXEC_ACTIONS, ["*"]),
                # The cluster encrypts ECS Exec sessions with the data layer's key.
                policies.statement("EcsExecSessionDecrypt", ["kms:Decrypt"], [args.kms_key_arn]),
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
        task_policy = aws.iam.RolePolicy(
            f"{name}-task-policy",
            role=self.task_role.id,
            policy=policies.document(*statements),
            opts=child,
        )
        # What a task needs before it can start: the service waits for these (IAM is eventually
        # consistent, and a task started before its policy exists fails to pull or to read secrets).
        self.policies = [execution_policy, task_policy]
        self.register_outputs({"executionRoleArn": self.execution_role.arn, "taskRoleArn": self.task_role.arn})
