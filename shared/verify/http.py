"""A minimal HTTP client for the checks: one request, no redirects followed, bounded body and time."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is itself what some checks look for (HTTP -> HTTPS), so it is never followed.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=ssl.create_default_context()))
MAX_BODY = 64 * 1024


def get(url: str, *, timeout: float, headers: dict[str, str] | None = None) -> Answer:
    """GET ``url``; any HTTP status is an Answer, a network failure raises OSError (URLError)."""
    request = urllib.request.Request(url, headers={"User-Agent": "mlapi-verify", **(headers or {})})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, _text(response.read(MAX_BODY)))
    except urllib.error.HTTPError as error:
        body = error.read(MAX_BODY) if error.fp else b""
        return Answer(error.code, {k.lower(): v for k, v in (error.headers or {}).items()}, _text(body))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
