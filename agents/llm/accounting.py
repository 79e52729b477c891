"""Accounting of the followers' answers over a study's runs: how many agent-days were answered, how
many failed and why, and which stored runs are incomplete.

LLM followers report their answers per run (``LLMFollowers.report()``: ``agent_days``,
``failed_agent_days``, ``unanswered``, ``by_status``, ``cache``); an experiment runner stores that
report in each run's metadata (``meta["followers"]``). Two questions are answered here, next to the
code that writes the report:

* ``rerun_reason(meta)``: may a stored run be reused, or did some agent-days get no answer (a server
  was down: the next run asks again)?
* ``answers_summary(runs)``: the totals over all runs, for the study's JSON record, and
  ``answers_report(summary, max_failed)``: the lines for the screen and whether too many failed.

Runs are read by duck typing (``.config``, ``.seed``, ``.meta``), so any runner's results work.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class StoredRun(Protocol):
    """What the accounting reads of a run (``experiments.sweep.store.RunResult`` has it)."""

    config: str
    seed: int
    meta: dict[str, Any]


def rerun_reason(meta: dict[str, Any], retry_failed: bool = False) -> str | None:
    """Why a stored run cannot be reused although its key matches: its followers got no answer for
    some agent-days (a server was down: the next run asks again), or ``retry_failed`` asks again for
    the bad answers it holds. ``None``: the run is complete."""
    f = meta.get("followers") or {}
    unanswered = int(f.get("unanswered", 0) or 0)
    if unanswered:
        return f"{unanswered} agent-day(s) had no answer"
    failed = int(f.get("failed_agent_days", 0) or 0)
    if retry_failed and failed:
        return f"{failed} failed answer(s), asked again (retry failed)"
    return None


def answers_summary(results: Iterable[StoredRun]) -> dict[str, Any] | None:
    """Follower answers over all runs (LLM followers report them; ``None`` for others): how many
    agent-days, how many failed, per status, how many had no answer and which runs are incomplete."""
    reports = [(r, r.meta.get("followers")) for r in results]
    reports = [(r, f) for r, f in reports if isinstance(f, dict) and "agent_days" in f]
    if not reports:
        return None
    by_status: dict[str, int] = {}
    for _, f in reports:
        for k, v in (f.get("by_status") or {}).items():
            by_status[k] = by_status.get(k, 0) + int(v)
    total = sum(int(f["agent_days"]) for _, f in reports)
    failed = sum(int(f.get("failed_agent_days", 0)) for _, f in reports)
    return {"agent_days": total, "failed": failed, "failed_share": failed / total if total else 0.0,
            "unanswered": sum(int(f.get("unanswered", 0) or 0) for _, f in reports),
            "by_status": {k: v for k, v in by_status.items() if v},
            "damaged_cache_rows": sum(int((f.get("cache") or {}).get("damaged", 0)) for _, f in reports),
            "incomplete_runs": [[r.config, r.seed] for r, f in reports if rerun_reason(r.meta)]}


def answers_report(answers: dict[str, Any] | None, max_failed: float) -> tuple[list[str], bool]:
    """Lines for the screen about the followers' answers (``answers_summary``) and
    whether too many failed (more than ``max_failed`` of them: the run's numbers mean little)."""
    if not answers or not answers.get("agent_days"):
        return [], False
    failed, total = int(answers["failed"]), int(answers["agent_days"])
    lines = [f"LLM answers: {total - failed} of {total} agent-days answered, {failed} failed"
             + (" (" + ", ".join(f"{k} {n}" for k, n in sorted(answers["by_status"].items()) if k != "ok") + ")"
                if failed else "")]
    if answers.get("unanswered"):
        lines.append(f"  {answers['unanswered']} got no answer (server down, timeouts, errors): not cached; "
                     f"{len(answers.get('incomplete_runs', []))} run(s) are incomplete and a rerun asks again")
    if answers.get("damaged_cache_rows"):
        lines.append(f"  {answers['damaged_cache_rows']} damaged cache row(s) were ignored and asked again")
    too_many = total > 0 and failed / total > max_failed
    if too_many:
        lines.append(f"error: {failed / total:.0%} of the answers failed (more than --llm-max-failed "
                     f"{max_failed:g}): the table above is not a result")
    return lines, too_many
