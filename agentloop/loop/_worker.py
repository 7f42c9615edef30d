"""The worker: builds the prompt for a step under the condition's supports and asks the model."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from agentloop.errors import ParseError
from agentloop.loop._episode import Episode, Proposal
from agentloop.models import Hint, Message
from agentloop.types import Step, Verdict


def step_messages(ep: Episode, step: Step, feedback: Verdict | None) -> list[Message]:
    """The messages for one atomic step.

    With the tape the model sees the rules and a small window of the committed state; without
    it, the whole conversation so far. A re-ask *replaces* the failed attempt: the rejection is
    added to the step's question, never appended as more turns.
    """
    sc, inst = ep.scenario, ep.instance
    if ep.condition.tape:
        question = sc.step_prompt(inst, step, ep.tape.render(step))
        head: list[Message] = [{"role": "system", "content": ep.rules}]
    else:
        question = stepwise_question(ep, step)
        intro = f"{ep.rules}\n\nThe task starts from:\n{sc.show_initial(inst)}\nWe go one step at a time."
        head = [{"role": "system", "content": intro}, *ep.transcript]
    if feedback is not None:
        question += (
            f"\n\nYour previous answer {feedback.observed if feedback.observed is not None else ''} was rejected: "
            f"{feedback.reason}. Answer again."
        )
    return [*head, {"role": "user", "content": question}]


def stepwise_question(ep: Episode, step: Step) -> str:
    """A step's question in the growing conversation, opened by what the last step revealed."""
    question = ep.scenario.step_prompt(ep.instance, step, None)
    return f"{ep.observation}\n{question}" if ep.observation else question


def oneshot_messages(ep: Episode) -> list[Message]:
    sc, inst = ep.scenario, ep.instance
    return [
        {"role": "system", "content": ep.rules},
        {"role": "user", "content": f"The task starts from:\n{sc.show_initial(inst)}\n\n{sc.oneshot_format(inst)}"},
    ]


def step_hint(ep: Episode, step: Step, attempt: int) -> Hint | None:
    """Ground truth for a simulated model: the right answer from the agent's own committed state."""
    if not ep.model.simulated:
        return None
    sc, inst, state = ep.scenario, ep.instance, ep.tape.state
    truth = sc.solve(inst, state, step)
    return Hint(
        answers=(truth,),
        render=lambda answers: sc.format_answer(answers[0]),
        corrupt=lambda i, rng: sc.corrupt(inst, state, step, truth, rng),
        key=f"{ep.hint_key}:{step.index}:{attempt}",
    )


def oneshot_hint(ep: Episode) -> Hint | None:
    """Ground truth for a whole-task call: the true trajectory, step by step."""
    if not ep.model.simulated:
        return None
    sc, inst = ep.scenario, ep.instance
    state, answers, states = sc.initial_state(inst), [], []
    for step in ep.steps:
        a = sc.solve(inst, state, step)
        answers.append(a)
        states.append(state)
        state = sc.apply(inst, state, step, a)
    return Hint(
        answers=answers,
        render=lambda xs: sc.format_trajectory(inst, xs),
        corrupt=lambda i, rng: sc.corrupt(inst, states[i], ep.steps[i], answers[i], rng),
        key=f"{ep.hint_key}:oneshot",
    )


def _read(ep: Episode, step: Step, text: str) -> tuple[Any, str | None]:
    """(answer, None), or (None, why the reply cannot be read)."""
    try:
        return ep.scenario.parse(text, step), None
    except ParseError as exc:
        return None, str(exc)
    except Exception as exc:  # a parser bug must not end the run: the reply counts as unreadable
        _log().warning("parser.failed", scenario=ep.scenario.name, error=f"{type(exc).__name__}: {exc}"[:200])
        return None, f"the parser failed ({type(exc).__name__})"


def ask_once(ep: Episode, step: Step, attempt: int) -> Proposal:
    """One answer; an unreadable reply is re-asked (a new sample of the same request) up to the
    condition's `format_retries`, as MAKER resamples red-flagged replies: format is not drift."""
    messages = step_messages(ep, step, ep.feedback)
    hint = step_hint(ep, step, attempt)
    p = Proposal(prompt=ep.remember(messages), samples=0)
    for sample in range(ep.condition.format_retries + 1):
        c = ep.call_many(messages, hint, range(sample, sample + 1), step=step.index, attempt=attempt)[0]
        p.answer, p.problem = _read(ep, step, c.text)
        p.text, p.samples, p.format_retries = c.text, sample + 1, sample
        p.replies += ep.reply(sample, c, p.answer, p.problem)
        if p.problem is None:
            break
    return p


def ask_vote(ep: Episode, step: Step, attempt: int) -> Proposal:
    """First-to-ahead-by-k voting (MAKER), bounded by `max_samples`.

    Samples go out in rounds: when the leader is m votes ahead, no answer can win in fewer than
    k − m more samples, so exactly that many are sent at once (concurrently) — never a sample
    more than one-at-a-time voting would take. Unparsable and over-long replies are
    red-flagged: paid for, never counted. If no answer leads by k within the bound, the current
    leader is taken; if every sample was red-flagged, the step has no answer.
    """
    cond, sc = ep.condition, ep.scenario
    messages = step_messages(ep, step, ep.feedback)
    hint = step_hint(ep, step, attempt)
    votes: Counter[Any] = Counter()
    keyed: dict[Any, Proposal] = {}
    p = Proposal(prompt=ep.remember(messages), problem="no sample", samples=cond.max_samples)
    sample = 0
    while sample < cond.max_samples:
        ranked = votes.most_common(2)
        lead = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0) if ranked else 0
        batch = range(sample, min(sample + cond.k - lead, cond.max_samples))
        for c in ep.call_many(messages, hint, batch, step=step.index, attempt=attempt):
            if len(c.text) > sc.max_answer_chars:
                answer, problem = None, f"red-flagged: reply longer than {sc.max_answer_chars} characters"
            else:
                answer, problem = _read(ep, step, c.text)
            p.replies += ep.reply(sample, c, answer, problem)
            sample += 1
            if problem is not None:
                p.text, p.problem = c.text, problem
                continue
            key = _hashable(sc.to_json_answer(answer))
            votes[key] += 1
            keyed.setdefault(key, Proposal(answer=answer, text=c.text))
            (top, n_top), *rest = votes.most_common(2)
            if n_top >= cond.k + (rest[0][1] if rest else 0):
                return _settle(p, keyed[top], votes, sample)
    if votes:
        return _settle(p, keyed[votes.most_common(1)[0][0]], votes, cond.max_samples)
    p.votes = {}
    return p


def _settle(p: Proposal, winner: Proposal, votes: Counter, samples: int) -> Proposal:
    p.answer, p.text, p.problem, p.samples = winner.answer, winner.text, None, samples
    p.votes = {json.dumps(k, ensure_ascii=False) if not isinstance(k, str) else k: n for k, n in votes.most_common()}
    return p


def ask_oneshot(ep: Episode, step: Step) -> Proposal:
    """The whole task in one call (made at the first step); later steps read the parsed reply.

    An unreadable whole-task reply is re-asked up to `format_retries` times; a readable reply
    that stops early leaves the later steps without an answer.
    """
    if ep.oneshot_answers is None:
        messages = oneshot_messages(ep)
        hint = oneshot_hint(ep)
        p = Proposal(prompt=ep.remember(messages), samples=0)
        for sample in range(ep.condition.format_retries + 1):
            c = ep.call_many(messages, hint, range(sample, sample + 1), step=step.index, attempt=0)[0]
            ep.oneshot_tokens_in = c.tokens_in
            try:
                ep.oneshot_answers, ep.oneshot_problem = ep.scenario.parse_trajectory(ep.instance, c.text), None
            except ParseError as exc:
                ep.oneshot_answers, ep.oneshot_problem = [], str(exc)
            except Exception as exc:  # a parser bug: the reply counts as unreadable
                ep.oneshot_answers, ep.oneshot_problem = [], f"the parser failed ({type(exc).__name__})"
            p.samples, p.format_retries, p.text = sample + 1, sample, c.text
            p.replies += ep.reply(sample, c, None, ep.oneshot_problem)
            if ep.oneshot_problem is None:
                break
        first = p
    else:
        first = Proposal(samples=0)
        ep.tally.prompt_tokens = ep.oneshot_tokens_in
    i = step.index
    if i < len(ep.oneshot_answers):
        first.answer, first.problem = ep.oneshot_answers[i], None
    else:
        first.problem = ep.oneshot_problem or "the reply ends before this step"
    return first


def _log():
    from agentloop._log import get_logger

    return get_logger("agentloop.loop")


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value
