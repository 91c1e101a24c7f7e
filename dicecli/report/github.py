"""GitHub Actions: workflow-command annotations and the job summary file.

- ``GITHUB_ACTIONS=true``: one ``::error title=dice gate::...`` line per failing class
  (``dice baseline`` per regressed class, ``dice input`` per case that could not be
  scored), printed on stderr so stdout stays clean for ``--format json``.
- ``GITHUB_STEP_SUMMARY=FILE``: the Markdown report is appended to FILE.
"""

# No "from __future__ import annotations": it would be shadowed by annotations() below. The
# verdict types are quoted: the check modules load only in runs that check something.
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from ..checks.baseline import BaselineVerdict
    from ..checks.gate import GateVerdict


def in_actions(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS", "").lower() == "true"


def _data(text: str) -> str:
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def command(title: str, message: str, kind: str = "error") -> str:
    """A workflow command such as ``::error title=dice gate::class 1 mean Dice 0.81 < 0.85``."""
    return f"::{kind} title={_property(title)}::{_data(message)}"


def annotations(run, gate: "GateVerdict | None" = None, baseline: "BaselineVerdict | None" = None) -> list[str]:
    """Error annotations for every failing class, regressed class and unscored case."""
    from .verdict import drop_headline, headline

    lines = []
    if gate is not None:
        lines += [command("dice gate", headline(c)) for c in gate.failures]
        if not gate.checks:
            lines.append(command("dice gate", "no class to check: the run found no class"))
    if baseline is not None:
        lines += [command("dice baseline", drop_headline(c, baseline.max_drop)) for c in baseline.failures]
        if not baseline.checks:
            lines.append(command("dice baseline", f"no class in common with {baseline.path}"))
    lines += [command("dice input", f"could not be scored: {e.message}") for e in run.errors]
    return lines


def append_step_summary(path: str, markdown: str) -> None:
    """Append ``markdown`` to the job summary file (GitHub creates it; OSError propagates)."""
    with open(path, "a", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
