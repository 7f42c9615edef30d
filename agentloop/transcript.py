"""An episode's transcript, written out for a person: every attempt's replies, verdicts and votes.

`agentloop show DIR KEY [--step N]` prints it; the record alone explains a failed step, with no
need to pay for the run again.
"""

from __future__ import annotations

from agentloop.types import Attempt, EpisodeRecord, StepRecord

# Lines of a request shown before it is cut (the whole request stays in the store).
_PROMPT_LINES = 12


def render_transcript(rec: EpisodeRecord, *, step: int | None = None, prompts: bool = False) -> str:
    """The episode (or one of its steps) as plain text."""
    params = " ".join(f"{k}={v}" for k, v in rec.params.items())
    sim = " (simulated)" if rec.simulated else ""
    head = [
        f"{rec.scenario} {params} · condition {rec.condition} · model {rec.model}{sim} · seed {rec.seed}",
        f"status {rec.status} · {sum(rec.step_ok)}/{rec.steps_total} steps locally correct · "
        f"first error at step {rec.first_error_step if rec.first_error_step is not None else 'none'} · "
        f"{rec.calls} calls · {rec.format_retries} format retries",
    ]
    if rec.error:
        head.append(f"error: {rec.error}")
    steps = rec.steps if step is None else [s for s in rec.steps if s.index == step]
    if step is not None and not steps:
        head.append(f"(no record of step {step}: the episode has steps 0..{len(rec.steps) - 1})")
    body = [_step(s, rec, prompts) for s in steps]
    return "\n\n".join(["\n".join(head), *body])


def _step(s: StepRecord, rec: EpisodeRecord, prompts: bool) -> str:
    mark = "ok" if s.ok else s.code
    lines = [f"step {s.index} · {s.label} · {mark}{'' if s.committed else ' · not committed'} · answer {s.answer!r}"]
    for j, p in enumerate(s.plans):
        v = p.verdict
        verdict = "ok" if v.ok else f"{v.code}: {v.reason}"
        lines.append(f"  plan {j + 1} ({p.goal}): {p.proposal!r} · {verdict}{'' if p.followed else ' · not followed'}")
        lines += [f"    reply {r.sample}: {r.text!r}" for r in p.replies]
    if not s.attempts and not s.plans:
        lines.append("  (no transcript: recorded without transcripts)")
    for j, a in enumerate(s.attempts):
        lines += _attempt(j, a, rec, prompts)
    return "\n".join(lines)


def _attempt(j: int, a: Attempt, rec: EpisodeRecord, prompts: bool) -> list[str]:
    v = a.verdict
    verdict = "-" if v is None else ("ok" if v.ok else f"{v.code}: {v.reason}")
    out = [f"  attempt {j + 1}: {verdict}"]
    if prompts and a.prompt and a.prompt in rec.prompts:
        for m in rec.prompts[a.prompt]:
            text = m["content"].splitlines() or [""]
            more = f" …(+{len(text) - _PROMPT_LINES} lines)" if len(text) > _PROMPT_LINES else ""
            out.append(f"    [{m['role']}] " + "\n      ".join(text[:_PROMPT_LINES]) + more)
    for r in a.replies:
        read = f"→ {r.answer!r}" if r.problem is None else f"✗ {r.problem}"
        out.append(f"    reply {r.sample}: {r.text!r} {read}")
    if a.votes:
        out.append("    votes: " + ", ".join(f"{k} ×{n}" for k, n in a.votes.items()))
    out += _review(a)
    return out


def _review(a: Attempt) -> list[str]:
    """A deployable checker's judgement (rules, critic, program) beside the simulator's truth."""
    if a.review is None:
        return []
    rv, t = a.review, a.truth
    own = "accepted" if rv.verdict.ok else f"rejected ({rv.verdict.reason})"
    if not rv.judged:
        own = f"could not judge, let it pass ({rv.problem})"
    truth = "-" if t is None else ("right" if t.ok else f"{t.code}: {t.reason}")
    out = [f"    checker {rv.checker}: {own} · simulator: {truth}"]
    for r in rv.replies:
        text = r.text if len(r.text) <= 300 else r.text[:300] + "…"
        read = f"→ {r.answer!r}" if r.problem is None else f"✗ {r.problem}"
        out.append(f"      {rv.checker} reply {r.sample}: {text!r} {read}")
    if rv.program_answer is not None:
        out.append(f"      the program computed {rv.program_answer!r}")
    return out
