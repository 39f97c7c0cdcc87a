"""Placeholder API served by the default image until a real one is deployed.

This file's source is the container's command (``python3 -c <source>``) on the default image
(the official python image has ``python3`` on its PATH and no ENTRYPOINT, so that is exactly what
runs). It uses only the standard library, writes nothing to disk (the root filesystem is read-only,
and ``PYTHONDONTWRITEBYTECODE`` keeps Python from trying), runs as the unprivileged user nobody and
listens on all IPv4 addresses on ``PORT`` (the network layer's service port). It answers the
load balancer's health check (``GET /health`` -> 200) and the routed API paths (``/api/v1/*``,
``/api/v2/*`` -> 200 JSON); anything else is 404. Without it a fresh environment would never become
healthy and the deployment circuit breaker would roll back forever.

On SIGTERM (what ECS sends when a task stops: a deployment, a scale-in, a Spot interruption) it
keeps answering for ``DRAIN_SECONDS`` (10; a Spot interruption's SIGTERM can come while the load
balancer still sends new requests), then stops accepting connections, finishes every request
already in flight and exits 0, as any image behind these services must (see docs/services.md,
"Draining"). Python's default for SIGTERM
is to die at once, cutting in-flight requests. tests/test_compute.py and tests/test_services.py run
the rendered command and check both behaviours.
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "mlapi-placeholder"
    sys_version = ""

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        body: dict[str, object]
        # Drain a (bounded) body so the client sees the answer; a negative or malformed length
        # must not make the thread wait for a body that never comes.
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > 0:
            self.rfile.read(min(int(length), 1 << 20))
        if path == "/health":
            status, body = 200, {"status": "ok"}
        elif path.startswith(("/api/v1/", "/api/v2/")):
            status, body = 200, {"version": path.split("/")[2], "path": path, "placeholder": True}
        else:
            status, body = 404, {"error": "not found", "path": path}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        # One line per request on stdout (the awslogs driver ships it); health checks are noise.
        if not self.path.startswith("/health"):
            sys.stdout.write(f"{self.address_string()} {format % args}\n")
            sys.stdout.flush()


class Server(ThreadingHTTPServer):
    # Request threads are not daemons, so server_close() waits for each in-flight request to finish.
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up before the answer is written (a load balancer timing out, a
        # probe) is not a server fault: no traceback for it.
        error = sys.exc_info()[1]
        if not isinstance(error, (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def main() -> None:
    server = Server(("", int(os.environ.get("PORT", "8080"))), Handler)
    # On a Fargate Spot interruption SIGTERM can arrive while the load balancer is still sending
    # new requests (its deregistration takes a few seconds to apply): keep answering that long,
    # then stop accepting. 10 s plus a 60 s request fits the task's 120 s stop timeout.
    drain = float(os.environ.get("DRAIN_SECONDS", "10"))

    def stop(signum: int, frame: object) -> None:
        # shutdown() blocks until serve_forever() returns, so it cannot run on the serving thread.
        timer = threading.Timer(drain, server.shutdown)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    server.server_close()  # joins the request threads: in-flight requests finish first
    sys.stdout.write("SIGTERM: in-flight requests finished, exiting\n")
    sys.stdout.flush()


if __name__ == "__main__":  # true under `python3 -c`; importing this module starts nothing
    main()
