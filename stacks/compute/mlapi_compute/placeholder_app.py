"""Placeholder API served by the default image until a real one is deployed.

This file's source is the container's command (``python3 -c <source>``) on the default image
(the official python image has ``python3`` on its PATH and no ENTRYPOINT, so that is exactly what
runs). It uses only the standard library, writes nothing to disk (the root filesystem is read-only,
and ``PYTHONDONTWRITEBYTECODE`` keeps Python from trying), runs as the unprivileged user nobody and
listens on all IPv4 addresses on ``PORT`` (the network layer's servicePort, 8080). It answers the
load balancer's health check (``GET /health`` -> 200) and the routed API paths (``/api/v1/*``,
``/api/v2/*`` -> 200 JSON); anything else is 404. Without it a fresh environment would never become
healthy and the deployment circuit breaker would roll back forever. tests/test_compute.py runs the
rendered command as that user, with the rendered environment, and checks those answers.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "mlapi-placeholder"
    sys_version = ""

    def _answer(self):
        path = self.path.split("?", 1)[0]
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

    def log_message(self, format, *args):
        # One line per request on stdout (the awslogs driver ships it); health checks are noise.
        if not self.path.startswith("/health"):
            sys.stdout.write(f"{self.address_string()} {format % args}\n")
            sys.stdout.flush()


if __name__ == "__main__":  # true under `python3 -c`; importing this module starts nothing
    ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
