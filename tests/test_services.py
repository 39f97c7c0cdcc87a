"""shared/service: the building blocks the compute and payments layers compose.

The compute layer is rendered through its real program (network -> data -> compute) to check what
the shared components produce for it; the payments layer's use is in tests/test_payments.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import layer_of, plan_layers

from mlapi_edge.distribution import ORIGIN_READ_TIMEOUT
from shared.plan.engine import Rendered
from shared.service import timing
from shared.service.alarms import TASKS_BELOW_MINIMUM_MISSING_DATA
from shared.service.service import IGNORED_UNDER_CODE_DEPLOY, ignored_changes
from shared.service.task import PLACEHOLDER_SOURCE

TASKDEF = "aws:ecs/taskDefinition:TaskDefinition"
TG = "aws:lb/targetGroup:TargetGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def compute() -> Rendered:
    return layer_of(plan_layers("compute", env="svc", region="eu-west-1"), "compute")


def _container(rendered: Rendered) -> dict[str, Any]:
    (definition,) = json.loads(rendered.one(TASKDEF).inputs["containerDefinitions"])
    return definition


# --- draining that matches the timeouts (issue 16) ----------------------------------------------


def test_drain_outlasts_the_longest_request_and_the_stop_timeout_outlasts_the_drain():
    # CloudFront gives the origin ORIGIN_READ_TIMEOUT seconds: that is the longest request served.
    assert timing.LONGEST_REQUEST_SECONDS >= ORIGIN_READ_TIMEOUT
    assert timing.LONGEST_REQUEST_SECONDS < timing.DEREGISTRATION_DELAY_SECONDS < timing.STOP_TIMEOUT_SECONDS
    assert timing.STOP_TIMEOUT_SECONDS <= timing.FARGATE_MAX_STOP_TIMEOUT_SECONDS == 120
    assert (timing.DEREGISTRATION_DELAY_SECONDS, timing.STOP_TIMEOUT_SECONDS) == (90, 120)


def test_compute_target_group_drains_and_container_stops_by_those_values(compute):
    assert compute.one(TG).inputs["deregistrationDelay"] == timing.DEREGISTRATION_DELAY_SECONDS
    assert _container(compute)["stopTimeout"] == timing.STOP_TIMEOUT_SECONDS
    assert _container(compute)["stopTimeout"] > compute.one(TG).inputs["deregistrationDelay"] > ORIGIN_READ_TIMEOUT


def test_tasks_below_minimum_does_not_alarm_on_a_new_environment_without_data(compute):
    alarms = {a.inputs["metricName"]: a.inputs for a in compute.of_type(ALARM)}
    running = alarms["RunningTaskCount"]
    # "breaching" would page on every new environment before Container Insights has data.
    assert running["treatMissingData"] == TASKS_BELOW_MINIMUM_MISSING_DATA == "missing"
    # Absent 5xx or unhealthy-host data means nothing went wrong.
    assert alarms["HTTPCode_Target_5XX_Count"]["treatMissingData"] == "notBreaching"
    assert alarms["UnHealthyHostCount"]["treatMissingData"] == "notBreaching"


def test_compute_components_keep_their_compute_type_tokens(compute):
    components = {r.type for r in compute.registrations if r.type.startswith("mlapi:")}
    assert components == {
        f"mlapi:compute:{kind}"
        for kind in (
            "ImageRegistry",
            "ServiceLogs",
            "Cluster",
            "TaskRoles",
            "ServiceTask",
            "LoadBalancer",
            "ApiService",
            "Autoscaling",
            "Alarms",
        )
    }


def test_codedeploy_services_leave_what_a_release_changes_to_codedeploy():
    assert ignored_changes("ECS") == ["desiredCount"]
    assert set(ignored_changes("CODE_DEPLOY")) == {"desiredCount", *IGNORED_UNDER_CODE_DEPLOY}
    assert {"taskDefinition", "loadBalancers"} <= set(IGNORED_UNDER_CODE_DEPLOY)
    # UpdateService accepts no ECS Exec change for a CODE_DEPLOY service: sending one fails the up.
    assert "enableExecuteCommand" in IGNORED_UNDER_CODE_DEPLOY and "enableExecuteCommand" not in ignored_changes("ECS")


# --- the placeholder finishes in-flight work on SIGTERM -----------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise AssertionError("placeholder did not start: " + process.stderr.read().decode()) from None  # type: ignore[union-attr]
            time.sleep(0.05)
    raise AssertionError("placeholder did not listen")


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="needs POSIX signals")
def test_placeholder_finishes_a_request_in_flight_when_sigterm_arrives_then_exits_cleanly():
    """A request is half sent (its body incomplete) when ECS's SIGTERM arrives: the server must
    go on answering new requests for DRAIN_SECONDS (a Spot interruption's SIGTERM can come before
    the load balancer stops sending), answer the in-flight one in full, then refuse new
    connections and exit 0 without a traceback."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", PLACEHOLDER_SOURCE],
        env={"PORT": str(port), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "DRAIN_SECONDS": "0.3"},
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, process)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as in_flight:
            in_flight.sendall(b"POST /api/v1/charge HTTP/1.0\r\nContent-Length: 10\r\n\r\n12345")
            time.sleep(0.3)  # the request thread is now reading the body
            process.send_signal(signal.SIGTERM)
            # Still answering during the drain...
            with socket.create_connection(("127.0.0.1", port), timeout=5) as during:
                during.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                assert during.recv(4096).startswith(b"HTTP/1.0 200")
            # ...then no new work is accepted: the listening socket closes (the drain, then within
            # serve_forever's poll interval, 0.5 s); a connection made before that is closed at once.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("the server still accepts connections 10 s after SIGTERM")
            assert process.poll() is None, "the server exited with a request in flight"
            in_flight.sendall(b"67890")
            answer = b""
            while chunk := in_flight.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.0 200")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["version"] == "v1"
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        out, err = process.communicate(timeout=5)
    assert b"Traceback" not in err, err.decode()
    assert b"in-flight requests finished" in out
