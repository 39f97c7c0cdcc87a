"""Run the registry over a view and report, grouped by layer."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .model import Environment, Status, View
from .registry import REGISTRY, Result, Rule, Severity, check_view


@dataclass
class Report:
    env: Environment
    rules: Sequence[Rule]
    results: list[Result]
    layers: list[str]
    resource_count: int
    notes: list[str] = field(default_factory=list)

    def of_status(self, status: Status) -> list[Result]:
        return [r for r in self.results if r.status is status]

    @property
    def mandatory_violations(self) -> list[Result]:
        return [r for r in self.of_status(Status.VIOLATION) if r.rule.mandatory]

    @property
    def advisory_violations(self) -> list[Result]:
        return [r for r in self.of_status(Status.VIOLATION) if not r.rule.mandatory]

    @property
    def passed(self) -> bool:
        return not self.mandatory_violations

    def violations_of(self, rule_id: str) -> list[Result]:
        return [r for r in self.of_status(Status.VIOLATION) if r.rule.id == rule_id]

    def format(self, *, verbose: bool = True) -> str:
        env = self.env
        mandatory = sum(1 for r in self.rules if r.severity is Severity.MANDATORY)
        mode = f"protect={'true' if env.protect else 'false'} ({env.protect_source})"
        if env.decommissioning:
            mode += f", decommission=true ({env.decommission_source}): deletion protection lifted for the teardown"
        lines = [
            f"Compliance check of environment '{env.suffix}' in {env.region}: {mode}",
            f"{len(self.rules)} rules ({mandatory} mandatory, {len(self.rules) - mandatory} advisory) over "
            f"{self.resource_count} resources in {len(self.layers)} layer(s): {', '.join(self.layers) or 'none'}",
        ]
        lines += [f"note: {n}" for n in self.notes]
        groups = [*self.layers, "environment"]
        for group in groups:
            in_group = [r for r in self.results if (r.resource.layer if r.resource else "environment") == group]
            if group == "environment" and not in_group:
                continue
            lines.append("")
            lines.append(f"[{group}]")
            failing = [r for r in in_group if r.status is Status.VIOLATION]
            failing.sort(key=lambda r: (not r.rule.mandatory, r.rule.id))
            if not failing:
                lines.append("  no violations")
            for result in failing:
                lines += self._violation_lines(result)
            if verbose:
                for result in sorted((r for r in in_group if r.status is not Status.VIOLATION), key=lambda r: r.rule.id):
                    label = "WAIVED    " if result.status is Status.WAIVED else "NOT JUDGED"
                    lines.append(f"  {label} {result.rule.id}: {self._resource(result)} - {result.finding.message}")
                    lines.append(self._wrap("because:", result.reason))
        lines.append("")
        lines.append(
            f"{'PASSED' if self.passed else 'FAILED'}: {len(self.mandatory_violations)} mandatory violation(s), "
            f"{len(self.advisory_violations)} advisory, {len(self.of_status(Status.WAIVED))} waived, "
            f"{len(self.of_status(Status.NOT_JUDGED))} not judged"
        )
        return "\n".join(lines)

    @staticmethod
    def _resource(result: Result) -> str:
        res = result.resource
        return f"{res.label()} [{res.type}]" if res else "(environment)"

    @staticmethod
    def _wrap(head: str, body: str) -> str:
        head = f"{' ' * 7}{head:<10}"
        return textwrap.fill(body, width=110, initial_indent=head, subsequent_indent=" " * len(head), break_on_hyphens=False)

    def _violation_lines(self, result: Result) -> list[str]:
        rule = result.rule
        level = "FAIL" if rule.mandatory else "WARN"
        return [
            f"  {level} [{rule.severity.value}] {rule.id} ({rule.describe_controls()})",
            self._wrap("resource:", self._resource(result)),
            self._wrap("wrong:", result.finding.message),
            self._wrap("fix:", rule.fix),
        ]


def run(view: View, env: Environment, rules: Iterable[Rule] | None = None, notes: Sequence[str] = ()) -> Report:
    """Every rule over ``view``: RESOURCE rules per resource, STACK/PLAN rules over the whole view."""
    chosen = list(REGISTRY if rules is None else rules)
    results: list[Result] = []
    for rule in chosen:
        results.extend(check_view(rule, view, env))
    return Report(
        env=env,
        rules=chosen,
        results=results,
        layers=view.layers,
        resource_count=sum(1 for r in view if r.is_aws),
        notes=list(notes),
    )
