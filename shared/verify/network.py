"""Network layer: the VPC endpoints are available and the flow logs deliver."""

from __future__ import annotations

import time
from typing import Any

from .core import Context, Failed, check


@check("network", "vpc-endpoints-available", needs=("vpcId",))
def endpoints_available(ctx: Context) -> str:
    ec2 = ctx.client("ec2")
    pages = ec2.get_paginator("describe_vpc_endpoints").paginate(Filters=[{"Name": "vpc-id", "Values": [ctx.out("vpcId")]}])
    # A deleted endpoint stays listed (state "deleted") for a while after it is gone.
    endpoints = {e["VpcEndpointId"]: e for page in pages for e in page["VpcEndpoints"] if e["State"].lower() != "deleted"}
    if not endpoints:
        raise Failed(f"no VPC endpoints in {ctx.out('vpcId')} (the layer creates S3 and DynamoDB gateway endpoints)")
    # The interface endpoints exist only in environments with the payments layer (empty map otherwise).
    wanted = ctx.outputs.get("network.interfaceEndpointIds") or {}
    missing = sorted(f"{service} ({eid})" for service, eid in wanted.items() if eid not in endpoints)
    if missing:
        raise Failed(f"interface endpoint(s) {', '.join(missing)} not found in the VPC")
    not_ready = sorted(
        f"{e['ServiceName'].rsplit('.', 1)[-1]}: {e['State']}" for e in endpoints.values() if e["State"].lower() != "available"
    )
    if not_ready:
        raise Failed(f"not available: {', '.join(not_ready)}")
    services = sorted(e["ServiceName"].split(".", 3)[-1] for e in endpoints.values())
    return f"{len(endpoints)} available: {', '.join(services)}"


@check("network", "flow-logs-deliver", needs=("vpcId", "flowLogGroupName"), settles=True)
def flow_logs_deliver(ctx: Context) -> str:
    vpc, group = ctx.out("vpcId"), ctx.out("flowLogGroupName")
    logs = ctx.client("ec2").describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])["FlowLogs"]
    to_group = [f for f in logs if f.get("LogGroupName") == group]
    if not to_group:
        raise Failed(f"no flow log of {vpc} delivers to {group}")
    flow = to_group[0]
    if flow.get("FlowLogStatus") != "ACTIVE" or flow.get("DeliverLogsStatus") != "SUCCESS":
        error = flow.get("DeliverLogsErrorMessage") or "no error message"
        raise Failed(
            f"{flow['FlowLogId']}: status {flow.get('FlowLogStatus')}, delivery {flow.get('DeliverLogsStatus')} ({error})"
        )
    latest = last_event(ctx, group)
    if latest is None:
        raise Failed(
            f"{flow['FlowLogId']} is active but {group} has no log events in the last hour (flow logs arrive within ~10 minutes of traffic)"
        )
    return f"{flow['FlowLogId']} ACTIVE, delivering to {group} (an event within the hour in stream {latest})"


# describe_log_streams will not do: its lastEventTimestamp is updated eventually (AWS: usually within
# an hour of ingestion, sometimes later) and storedBytes is deprecated (always 0), so a fresh
# environment would look silent for an hour and a stream that went quiet yesterday would look live.
# FilterLogEvents reads the events themselves.
RECENT_SECONDS = 3600
# FilterLogEvents may answer a page with no events and a nextToken while it searches a large group;
# bounded so a silent group costs a few calls, not an endless walk.
MAX_FILTER_PAGES = 10


def last_event(ctx: Context, group: str) -> str | None:
    """The stream of an event ``group`` received within the last :data:`RECENT_SECONDS`, or None."""
    logs = ctx.client("logs")
    request: dict[str, Any] = {"logGroupName": group, "startTime": int((time.time() - RECENT_SECONDS) * 1000), "limit": 1}
    for _ in range(MAX_FILTER_PAGES):
        try:
            page = logs.filter_log_events(**request)
        except logs.exceptions.ResourceNotFoundException:
            raise Failed(f"log group {group} does not exist") from None
        if page.get("events"):
            return str(page["events"][0]["logStreamName"])
        if not page.get("nextToken"):
            return None
        request["nextToken"] = page["nextToken"]
    return None
