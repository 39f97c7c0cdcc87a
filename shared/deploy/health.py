"""The health gate: a layer that runs a service is deployed only once the service serves.

``pulumi up`` of a layer with an ECS service returns when ECS has accepted the service, not when
its tasks run. On a first deployment the deployment circuit breaker has nothing to roll back to,
so a service whose tasks all crash still "succeeds", and the edge layer would deploy in front of
it. After the layer's ``up`` the deploy tasks therefore poll ECS and the load balancer until

* the service is ACTIVE with every desired task running and none pending (and, for the ECS
  deployment controller, its primary deployment COMPLETED and running the task definition the
  layer just deployed), and
* the target group the tasks serve from (a blue/green service's PRIMARY task set's) holds at
  least that many healthy targets,

or fail, naming the reason ECS gives: the circuit breaker's verdict (also when it already rolled
back to the previous task definition, which would otherwise look healthy), stopped tasks' reasons
and exit codes, unhealthy targets' reasons, the service's latest event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import contracts

DEFAULT_TIMEOUT = 900.0
DEFAULT_INTERVAL = 15.0
# Outputs a service layer exports (shared/contracts.py): what the gate reads.
SERVICE_OUTPUTS = ("clusterName", "serviceName")
# A blue/green layer's service starts on its blue target group; a rolling one has one group.
TARGET_GROUP_OUTPUTS = ("blueTargetGroupArn", "targetGroupArn")


class HealthError(Exception):
    """The service did not become healthy; the message says why, as ECS and ELB report it."""


def runs_service(layer: str) -> bool:
    """Whether ``layer``'s output contract declares an ECS service (compute, payments)."""
    declared = contracts.CONTRACTS.get(layer, {})
    return all(name in declared for name in SERVICE_OUTPUTS)


@dataclass(frozen=True)
class ServiceTarget:
    layer: str
    cluster: str
    service: str
    target_group_arn: str | None
    # The task definition the layer's `up` just set: a service whose primary deployment runs
    # another one was rolled back by the circuit breaker (ECS deployment controller only).
    task_definition_arn: str | None = None

    @classmethod
    def from_outputs(cls, layer: str, outputs: Mapping[str, Any]) -> ServiceTarget:
        missing = [name for name in SERVICE_OUTPUTS if not outputs.get(name)]
        if missing:
            raise HealthError(
                f"{layer}: its stack exports no {' or '.join(missing)}, so the service cannot be checked "
                "(the layer's program must export its contract, shared/contracts.py)"
            )
        group = next((str(outputs[name]) for name in TARGET_GROUP_OUTPUTS if outputs.get(name)), None)
        task_definition = str(outputs["taskDefinitionArn"]) if outputs.get("taskDefinitionArn") else None
        return cls(layer, str(outputs["clusterName"]), str(outputs["serviceName"]), group, task_definition)


@dataclass
class Snapshot:
    """One look at the service: enough to decide, and to explain a failure."""

    desired: int = 0
    running: int = 0
    pending: int = 0
    rollout: str | None = None
    rollout_reason: str | None = None
    healthy_targets: int = 0
    unhealthy: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    last_event: str | None = None
    # The target group the service's tasks are registered in (a blue/green service's live one).
    target_group_arn: str | None = None
    # The task definition ECS runs when it is not the one deployed: the deployment was rolled back.
    rolled_back_to: str | None = None

    def steady(self, needs_targets: bool) -> bool:
        if self.desired < 1 or self.running < self.desired or self.pending:
            return False
        if self.rollout not in (None, "COMPLETED") or self.rolled_back_to:
            return False
        return not needs_targets or self.healthy_targets >= self.desired

    def progress(self, needs_targets: bool) -> str:
        text = f"{self.running}/{self.desired} tasks running"
        if self.pending:
            text += f", {self.pending} pending"
        if needs_targets:
            text += f", {self.healthy_targets} healthy targets"
        if self.rollout:
            text += f", deployment {self.rollout}"
        return text


def _stopped_reasons(ecs: Any, cluster: str, service: str, started_by: str | None, limit: int = 3) -> list[str]:
    """The newest stopped tasks' reasons, of the deployment ``started_by`` when any of its tasks
    stopped (ECS keeps stopped tasks for about an hour: older deployments' would mislead)."""
    # One page (at most 100) is enough: only the newest few are shown, and describe_tasks takes 100.
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED").get("taskArns", [])[:100]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns).get("tasks", [])
    mine = [task for task in tasks if started_by and task.get("startedBy") == started_by]
    newest = sorted(mine or tasks, key=lambda task: str(task.get("stoppedAt") or ""), reverse=True)[:limit]
    reasons = []
    for task in newest:
        parts = [str(task.get("stoppedReason") or task.get("stopCode") or "stopped")]
        for container in task.get("containers", []):
            detail = container.get("reason")
            code = container.get("exitCode")
            if detail or code not in (None, 0):
                shown = f"container {container.get('name')}"
                if code is not None:
                    shown += f" exited {code}"
                if detail:
                    shown += f": {detail}"
                parts.append(shown)
        reasons.append(f"task {str(task.get('taskArn', '?')).rsplit('/', 1)[-1]}: " + "; ".join(parts))
    return reasons


def look(ecs: Any, elbv2: Any, target: ServiceTarget) -> Snapshot:
    """Describe the service, its stopped tasks and its target group's health once."""
    answer = ecs.describe_services(cluster=target.cluster, services=[target.service])
    services = answer.get("services", [])
    if not services or services[0].get("status") != "ACTIVE":
        why = "; ".join(f"{f.get('arn')}: {f.get('reason')}" for f in answer.get("failures", [])) or "status " + str(
            services[0].get("status") if services else "missing"
        )
        raise HealthError(f"{target.layer}: ECS service {target.service} in cluster {target.cluster} is not active ({why})")
    svc = services[0]
    snap = Snapshot(desired=int(svc.get("desiredCount", 0)), running=int(svc.get("runningCount", 0)))
    snap.pending = int(svc.get("pendingCount", 0))
    snap.target_group_arn = target.target_group_arn
    started_by = None
    if (svc.get("deploymentController") or {}).get("type", "ECS") == "ECS":
        deployments = svc.get("deployments") or []
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        if primary:
            started_by = primary.get("id")
            snap.rollout = primary.get("rolloutState")
            snap.rollout_reason = primary.get("rolloutStateReason")
            deployed = target.task_definition_arn
            if deployed and primary.get("taskDefinition") and primary["taskDefinition"] != deployed:
                snap.rolled_back_to = str(primary["taskDefinition"])
        # With rollback on, the circuit breaker's FAILED deployment stops being PRIMARY at once: the
        # rollback to the last good task definition is. The failure is the deployed one's verdict.
        failed = next(
            (
                d
                for d in deployments
                if d.get("rolloutState") == "FAILED" and (d is primary or d.get("taskDefinition") == target.task_definition_arn)
            ),
            None,
        )
        if failed is not None:
            started_by = failed.get("id")
            snap.rollout = "FAILED"
            snap.rollout_reason = failed.get("rolloutStateReason")
    else:
        # Blue/green (CODE_DEPLOY): after a CodeDeploy release the live task set serves from the
        # other target group, so read the PRIMARY task set's group rather than the blue one.
        task_set = next((t for t in svc.get("taskSets") or [] if t.get("status") == "PRIMARY"), None)
        if task_set:
            started_by = task_set.get("id")
            group = next(
                (lb.get("targetGroupArn") for lb in task_set.get("loadBalancers") or [] if lb.get("targetGroupArn")), None
            )
            snap.target_group_arn = group or snap.target_group_arn
    events = svc.get("events") or []
    snap.last_event = str(events[0].get("message")) if events else None  # ECS lists the newest first
    if snap.running < snap.desired or snap.rollout == "FAILED" or snap.rolled_back_to:
        snap.stopped = _stopped_reasons(ecs, target.cluster, target.service, started_by)
    if snap.target_group_arn:
        for description in elbv2.describe_target_health(TargetGroupArn=snap.target_group_arn).get("TargetHealthDescriptions", []):
            health = description.get("TargetHealth", {})
            where = description.get("Target", {})
            if health.get("State") == "healthy":
                snap.healthy_targets += 1
            elif health.get("State") not in ("draining", "unused"):
                snap.unhealthy.append(
                    f"{where.get('Id')}:{where.get('Port')} {health.get('State')}"
                    + (f" ({health.get('Reason')}: {health.get('Description')})" if health.get("Reason") else "")
                )
    return snap


def explain(target: ServiceTarget, snap: Snapshot, headline: str) -> str:
    lines = [
        f"{target.layer}: ECS service {target.service} (cluster {target.cluster}) {headline}: "
        f"{snap.progress(target.target_group_arn is not None)}."
    ]
    if snap.rollout == "FAILED":
        lines.append(f"  deployment circuit breaker: {snap.rollout_reason or 'the deployment failed'}")
    if snap.rolled_back_to:
        lines.append(
            f"  rolled back: ECS runs {snap.rolled_back_to}, not the deployed {target.task_definition_arn} "
            "(the circuit breaker gave up on the new tasks and went back to the last good deployment). A fixed "
            f"task definition redeploys on the next up; to retry the same one, `invoke refresh --layer {target.layer}` "
            "first, so the stack sees what ECS runs."
        )
    lines += [f"  stopped {reason}" for reason in snap.stopped]
    lines += [f"  target {reason}" for reason in snap.unhealthy]
    if snap.last_event:
        lines.append(f"  latest service event: {snap.last_event}")
    lines.append(
        f"  Look: `aws ecs describe-services --cluster {target.cluster} --services {target.service}` (events), the "
        "service's log group (container output), and the target group's health check path and port."
    )
    return "\n".join(lines)


def wait_healthy(
    target: ServiceTarget,
    clients: Callable[[str], Any],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    out: Callable[[str], None] | None = None,
) -> Snapshot:
    """Poll until the service is steady and its targets healthy; raise HealthError on the circuit
    breaker's failure or at ``timeout`` seconds, with what ECS and the load balancer say."""
    ecs, elbv2 = clients("ecs"), clients("elbv2")
    deadline = clock() + timeout
    needs_targets = target.target_group_arn is not None
    shown = None
    while True:
        snap = look(ecs, elbv2, target)
        if snap.steady(needs_targets):
            return snap
        if snap.rolled_back_to:
            raise HealthError(explain(target, snap, "was rolled back"))
        if snap.rollout == "FAILED":
            raise HealthError(explain(target, snap, "failed its deployment"))
        now = clock()
        if now >= deadline:
            raise HealthError(explain(target, snap, f"is not healthy after {timeout:g} s"))
        progress = snap.progress(needs_targets)
        if out is not None and progress != shown:
            out(f"[{target.layer}] waiting for the service to be healthy: {progress}")
            shown = progress
        sleep(max(0.0, min(interval, deadline - now)))
