"""Whether the running program is being rendered by the offline plan (mock runtime) or by a
real Pulumi engine. Layers use it to accept documented sample settings offline while refusing
them in a real run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_OFFLINE: ContextVar[bool] = ContextVar("mlapi_offline_plan", default=False)


def is_offline_plan() -> bool:
    return _OFFLINE.get()


@contextlib.contextmanager
def offline_plan() -> Iterator[None]:
    token = _OFFLINE.set(True)
    try:
        yield
    finally:
        _OFFLINE.reset(token)
