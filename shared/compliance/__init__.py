"""Security and compliance rules, written once and run by two runners.

* ``rules.py`` (+ ``literals.py``): small pure functions over a normalized view of resources
  (model.py), registered in ``registry.REGISTRY`` with id, severity, controls and fix;
* ``offline.py``: ``invoke check`` - the whole environment's plan document through every rule;
* ``pack.py``: the same rules as a Pulumi CrossGuard policy pack (``policy/__main__.py``).
"""

from . import rules as _rules  # noqa: F401  (registers every rule)
from .model import Environment, Finding, Resource, Status, View
from .registry import REGISTRY, AppliesTo, Rule, Scope, Severity, by_id

__all__ = ["REGISTRY", "AppliesTo", "Environment", "Finding", "Resource", "Rule", "Scope", "Severity", "Status", "View", "by_id"]
