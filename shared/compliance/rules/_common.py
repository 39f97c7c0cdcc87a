"""What rules of several domains share."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, View, refers

# Destinations that mean "anywhere": IPv4 and IPv6.
WORLD = {"0.0.0.0/0", "::/0"}


def unreferenced(view: View, of: str, *, by: str, through: str, message: str) -> Iterator[Finding]:
    """A finding for every resource of type ``of`` that no resource of type ``by`` names in its
    input ``through`` (a secret without a rotation, a web ACL without logging, ...)."""
    companions = view.of_type(by)
    for resource in view.of_type(of):
        if not any(refers(companion, through, resource) for companion in companions):
            yield Finding(resource, message)
