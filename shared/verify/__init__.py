"""``invoke verify`` and the live tests: read-only checks of a deployed environment.

One implementation serves both: :mod:`.runner` runs the checks registered by :mod:`.network`,
:mod:`.data`, :mod:`.service` (compute and payments) and :mod:`.edge` against the identifiers in
the flat outputs file; ``tests/integration/`` runs the same checks one pytest test each.
Nothing here changes anything: only Describe/Get/List/Filter calls and HTTP GETs.
"""

from .core import REGISTRY, URL_TARGETS, Check, Context, Failed, Result
from .runner import Report, checks_for, client_factory, expectations, layers_to_verify, require_outputs, run_one, verify

__all__ = [
    "REGISTRY",
    "URL_TARGETS",
    "Check",
    "Context",
    "Failed",
    "Report",
    "Result",
    "checks_for",
    "client_factory",
    "expectations",
    "layers_to_verify",
    "require_outputs",
    "run_one",
    "verify",
]
