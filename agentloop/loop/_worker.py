"""The worker: builds the prompt for a step under the condition's supports and asks the model."""

from __future__ import annotations

import re
from typing import Any

from agentloop.errors import ParseError
from agentloop.loop._episode import Episode, Proposal
from agentloop.models import Hint, Message
from agentloop.supports import RedFlag, answer_key, vote
from agentloop.types import Completion, Step, Verdict


# --- chain-of-thought (cot=true) -----------------------------------------------------------------
# The reasoning may be long, the answer after `Answer:` may not: under a vote, a reply past
# COT_MAX_CHARS is red-flagged, and so is an answer past the scenario's own limit.
COT_MAX_CHARS = 8000
# The final answer's marker: `Answer:` at the start of a line, perhaps in bold or after `Final`.
_ANSWER = re.compile(r"^[ \t>*_#-]*(?:final\s+)?answer\s*[*_]*\s*:[*_]*[ \t]*", re.IGNORECASE | re.MULTILINE)
# What a simulated model writes before its answer (scripted replies carry no real reasoning).
SIMULATED_REASONING = "Let me work through this step by step before answering."


def cot_suffix() -> str:
    return (
        "\n\nYou may think step by step first. Then end your reply with one final line `Answer: ...`, "
        "giving the answer exactly in the form asked above."
    )


def extract_answer(text: str) -> str:
    """The text after the last `Answer:` marker (to the end of the reply: a whole-task answer
    takes several lines); ParseError when the reply has none or nothing follows it."""
    last = None
    for last in _ANSWER.finditer(text):
        pass
    if last is None:
        raise ParseError("no final `Answer:` line after the reasoning")
    answer = text[last.end():].strip()
    if not answer:
        raise ParseError("the `Answer:` line is empty")
    return answer


def cot_read(ep: Episode, text: str) -> str:
    """Under cot, the part of a reply the parser reads; otherwise the reply itself."""
    return extract_answer(text) if ep.condition.cot else text


def cot_render(render):
    """A simulated reply under cot: a line of (simulated) reasoning, then the answer line."""
    return lambda answers: f"{SIMULATED_REASONING}\nAnswer: {render(answers)}"


# --- drift by injection (inject_step, inject, pad_chars) ----------------------------------------
_PADDING = (
    "Unrelated note: the harbour office reports light winds from the south-west, a falling tide at "
    "noon and fair visibility; the ferry timetable is unchanged and the market opens at eight. "
)


def padding(chars: int) -> str:
    """`chars` characters of irrelevant text (the same for every episode)."""
    return (_PADDING * (chars // len(_PADDING) + 1))[:chars]


def injected(ep: Episode, step: Step) -> str:
    """What the injection knob puts before this step's question ("" before `inject_step`)."""
    c = ep.condition
    if c.inject_step is None or step.index < c.inject_step:
        return ""
    if not c.tape and step.index != c.inject_step:
        return ""  # stepwise: injected once, at its step; the conversation carries it on
    parts = [padding(c.pad_chars) if c.pad_chars else "", c.inject.strip()]
    return "\n\n".join(x for x in parts if x) + "\n\n"


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
    if ep.condition.tape:
        question = injected(ep, step) + question  # stepwise: `stepwise_question` has it
    if feedback is not None:
        previous = "" if feedback.observed is None else f" {feedback.observed}"
        question += f"\n\nYour previous answer{previous} was rejected: {feedback.reason}. Answer again."
    if ep.condition.cot:
        question += cot_suffix()
    return [*head, {"role": "user", "content": question}]


def stepwise_question(ep: Episode, step: Step) -> str:
    """A step's question in the growing conversation, opened by what the last step revealed."""
    question = injected(ep, step) + ep.scenario.step_prompt(ep.instance, step, None)
    return f"{ep.observation}\n{question}" if ep.observation else question


def oneshot_messages(ep: Episode) -> list[Message]:
    sc, inst = ep.scenario, ep.instance
    return [
        {"role": "system", "content": ep.rules},
        {"role": "user", "content": f"The task starts from:\n{sc.show_initial(inst)}\n\n{sc.oneshot_format(inst)}"
                                    + (cot_suffix() if ep.condition.cot else "")},
    ]


def step_hint(ep: Episode, step: Step, attempt: int) -> Hint | None:
    """Ground truth for a simulated model: the right answer from the agent's own committed state."""
    if not ep.model.simulated:
        return None
    sc, inst, state = ep.scenario, ep.instance, ep.tape.state
    # Under planner=llm a simulated worker carries out the plan's step (a wrong plan's too).
    truth = ep.plan_intent if ep.plan_intent is not None else sc.solve(inst, state, step)
    # One entry per atomic answer (a step of several cells or moves has several), so a simulated
    # model slips per atom whatever the step's size.
    render = lambda atoms: sc.format_answer(sc.join_atoms(inst, step, atoms))  # noqa: E731
    return Hint(
        answers=tuple(sc.atoms(inst, step, truth)),
        render=cot_render(render) if ep.condition.cot else render,
        corrupt=lambda i, rng: sc.corrupt_atom(inst, state, step, truth, i, rng),
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
    # The atoms of every step in order, with the step and position each came from: simulated
    # slips are per atom, as in a step's hint.
    atoms: list = []
    where: list[tuple[int, int]] = []
    for s, (step, a) in enumerate(zip(ep.steps, answers)):
        parts = sc.atoms(inst, step, a)
        atoms.extend(parts)
        where.extend((s, j) for j in range(len(parts)))

    def render(xs) -> str:
        per_step: list[list] = [[] for _ in answers]
        for (s, _), x in zip(where, xs):
            per_step[s].append(x)
        return sc.format_trajectory(inst, [sc.join_atoms(inst, st, p) for st, p in zip(ep.steps, per_step)])

    def corrupt(i, rng):
        s, j = where[i]
        return sc.corrupt_atom(inst, states[s], ep.steps[s], answers[s], j, rng)

    return Hint(answers=atoms, render=cot_render(render) if ep.condition.cot else render, corrupt=corrupt,
                key=f"{ep.hint_key}:oneshot")


def _safely(ep: Episode, parse, *args) -> tuple[Any, str | None]:
    """(answer, None), or (None, why the reply cannot be read) — also when the parser has a bug:
    a reply must become a verdict, never a crashed run."""
    try:
        return parse(*args), None
    except ParseError as exc:
        return None, str(exc)
    except Exception as exc:
        _log().warning("parser.failed", scenario=ep.scenario.name, error=f"{type(exc).__name__}: {exc}"[:200])
        return None, f"the parser failed ({type(exc).__name__})"


def _sampled(
    ep: Episode, step: Step, attempt: int, messages: list[Message], hint: Hint | None, read, *, k: int, max_samples: int,
    max_chars: int | None = None, to_json=None,
) -> Proposal:
    """Samples of one request, voted first-to-ahead-by-k (`agentloop.supports.vote`).

    Unreadable and over-long replies are red-flagged: paid for, never counted, and another
    sample is drawn — with k = 1 this is the format re-ask of a single answer, as MAKER
    resamples red-flagged replies (format is not drift). Every reply is kept for the transcript.
    Answers are voted on by their JSON value (`to_json`; default: the scenario's step answer).
    """
    to_json = to_json or ep.scenario.to_json_answer
    replies: dict[int, tuple[Completion, Any, str | None]] = {}
    reads: dict[str, tuple[Any, None]] = {}  # a readable reply's text is read once per request (samples agree)
    keys: dict[int, Any] = {}  # an answer's vote key, by the answer read (held in `reads`)

    def ask(sample: int) -> Any:
        c = ep.call(messages, hint, sample, step=step.index, attempt=attempt)
        seen = reads.get(c.text)
        if seen is not None:
            answer, problem = seen
        elif max_chars is not None and len(c.text) > max_chars:
            answer, problem = None, f"red-flagged: reply longer than {max_chars} characters"
        else:
            answer, problem = read(c.text)
            if problem is None:  # an unreadable reply is read (and reported) each time
                reads[c.text] = (answer, None)
        replies[sample] = (c, answer, problem)
        if problem is not None:
            raise RedFlag(problem)
        return answer

    def vote_key(a: Any) -> Any:
        key = keys.get(id(a))
        if key is None:
            key = keys[id(a)] = answer_key(to_json(a))
        return key

    p = Proposal(prompt=ep.remember(messages))
    try:
        result = vote(ask, k=k, max_samples=max_samples, key=vote_key, executor=ep.pool(k))
    finally:  # also when the vote ends on the budget: what was sent stays in the transcript
        for i in sorted(replies):
            c, answer, problem = replies[i]
            if (r := ep.reply(i, c, None if problem is not None else to_json(answer), problem)) is not None:
                p.replies.append(r)
    # Format retries: unreadable replies that were followed by another sample (the last one,
    # when the bound stopped the vote, was not re-asked).
    last_flagged = bool(result.samples) and result.samples[-1].problem is not None
    p.samples = len(result.samples)
    p.red_flags = result.red_flags - (last_flagged and p.samples == max_samples)
    p.answer, p.problem = result.answer, result.problem
    shown = result.first if result.first is not None else (result.samples[-1].index if result.samples else None)
    p.text = replies[shown][0].text if shown is not None else ""
    if ep.condition.vote:
        p.votes = result.votes
    return p


def ask_step(ep: Episode, step: Step, attempt: int, feedback: Verdict | None) -> Proposal:
    """One attempt at a step: a single answer (re-asked while unreadable) or a vote."""
    cond = ep.condition
    if not cond.decompose:
        return ask_oneshot(ep, step)
    messages = step_messages(ep, step, feedback)
    hint = step_hint(ep, step, attempt)
    if cond.cot:
        read = lambda text: _safely(ep, _cot_parse, ep, text, step)  # noqa: E731
    else:
        read = lambda text: _safely(ep, ep.scenario.parse, text, step)  # noqa: E731
    if cond.vote:
        # Red-flagging: under cot the reasoning may run to COT_MAX_CHARS; the answer is held to the
        # scenario's limit by `_cot_parse`.
        return _sampled(ep, step, attempt, messages, hint, read, k=cond.k, max_samples=cond.max_samples,
                        max_chars=COT_MAX_CHARS if cond.cot else answer_limit(ep, step))
    return _sampled(ep, step, attempt, messages, hint, read, k=1, max_samples=1 + cond.format_retries)


def answer_limit(ep: Episode, step: Step) -> int:
    """The red-flag length of an answer to `step`: the scenario's, or under planner=llm the chunk
    the planner chose (a step of several generations needs more room than its parameters say)."""
    chosen = ep.planner.answer_chars(step) if ep.planner is not None else None
    return chosen if chosen is not None else ep.scenario.answer_chars(ep.instance)


def _cot_parse(ep: Episode, text: str, step: Step) -> Any:
    answer = extract_answer(text)
    limit = answer_limit(ep, step)
    if ep.condition.vote and len(answer) > limit:
        raise ParseError(f"red-flagged: answer longer than {limit} characters")
    return ep.scenario.parse(answer, step)


def ask_oneshot(ep: Episode, step: Step) -> Proposal:
    """The whole task in one call (made at the first step; an unreadable reply is re-asked up to
    `format_retries` times); later steps read the parsed reply. A readable reply that stops early
    leaves the later steps without an answer."""
    if ep.oneshot_answers is None:
        sc = ep.scenario
        p = _sampled(ep, step, 0, oneshot_messages(ep), oneshot_hint(ep),
                     lambda text: _safely(ep, lambda t: sc.parse_trajectory(ep.instance, cot_read(ep, t)), text),
                     k=1, max_samples=1 + ep.condition.format_retries, to_json=lambda xs: [sc.to_json_answer(a) for a in xs])
        ep.oneshot_answers, ep.oneshot_problem = p.answer or [], p.problem
        ep.oneshot_tokens_in = ep.tally.prompt_tokens
        p.answer, p.problem = None, None
    else:
        p = Proposal(samples=0)
        ep.tally.prompt_tokens = ep.oneshot_tokens_in
    i = step.index
    if i < len(ep.oneshot_answers):
        p.answer = ep.oneshot_answers[i]
    else:
        p.problem = ep.oneshot_problem or "the reply ends before this step"
    return p


def _log():
    from agentloop._log import get_logger

    return get_logger("agentloop.loop")
