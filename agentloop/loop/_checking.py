"""The checker a deployment can have, in the loop: `rules`, `critic` or `program` acts on each
step in place of the simulator, and every one of its verdicts is scored against the simulator's.

`_steps.check` computes the simulator's verdict (the truth) as always, and, under such a
checker, asks `StepChecker.judge` for the verdict the loop acts on. The truth goes into the
attempt's record beside it, and the episode's `CheckTally` counts accepts and rejects of right
and wrong answers: the false-accept and false-reject rates of the report.

Two rules hold whatever the checker says:
- an answer the environment cannot carry out (the simulator's `illegal`) is never committed: a
  checker that accepts one is recorded as having accepted it, and the loop acts on the
  environment's refusal instead (counted as `overruled`);
- a checker that cannot judge (a critic whose replies stay unreadable, a program that could not
  be read, fails, times out or returns nothing readable) lets the answer pass, and says why in
  the record (`unjudged`). It objects only when it has a reason to.

The critic's and the program writer's calls go through `Episode.call`: they count against the
episode's limits and appear in its calls and tokens, like the worker's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentloop.errors import AgentloopError, ParseError
from agentloop.models import Hint, Message, Model
from agentloop.supports import answer_key
from agentloop.types import CheckTally, Reply, Review, Step, Verdict

if TYPE_CHECKING:
    from agentloop.conditions import Condition
    from agentloop.loop._episode import Episode, Proposal
    from agentloop.scenarios import Scenario

# Request seeds of a checker's calls: the worker's (step, attempt) with an offset, so a critic's
# request never shares its seed with the worker's request for the same attempt.
_CRITIC_SEED = 1_000_000
_PROGRAM_SEED = 2_000_000


def check_checker(sc: Scenario, params: Any, cond: Condition, *, simulated: bool | None = None) -> None:
    """One line saying why `cond`'s checker cannot serve `sc` (with `params`, for a simulated
    model when `simulated`), or nothing. Experiments call it before anything runs."""
    from agentloop.checkers import REFERENCE, has_rules

    if cond.checker == "rules" and not has_rules(sc):
        raise AgentloopError(
            f"checker=rules: scenario {sc.name!r} states no legality rules (it does not define `illegal`); "
            "use checker=critic, checker=program or the oracle"
        )
    if cond.checker == "program" and simulated:
        if sc.name not in REFERENCE:
            raise AgentloopError(
                f"checker=program: simulated models write programs only for {', '.join(sorted(REFERENCE))}, "
                f"not {sc.name!r}; use a real model"
            )
        granularity = getattr(params, "granularity", None)
        if granularity is not None and granularity != type(params).model_fields["granularity"].default:
            raise AgentloopError(
                f"checker=program: simulated models write programs for one atomic step; granularity={granularity} "
                "asks for several"
            )


class StepChecker:
    """One episode's `rules`, `critic` or `program` checker (built when the episode starts, so a
    checker that cannot serve the scenario or model is refused before any call)."""

    def __init__(self, ep: Episode) -> None:
        cond, sc = ep.condition, ep.scenario
        self.kind: str = cond.checker
        self.tally = CheckTally(checker=self.kind)
        self.model: Model = ep.model
        self.program: str | None = None
        self.program_problem: str | None = None
        self._written = False
        self._judged_at: tuple[int, int] = (-1, 0)  # (step index, judgements of it so far)
        check_checker(sc, getattr(ep.instance, "params", None), cond, simulated=ep.model.simulated)
        if self.kind == "critic" and cond.critic_model is not None:
            from agentloop.models import get_model

            self.model = get_model(cond.critic_model)

    # --- checkpoints (a resumed episode goes on with the same tally and program) ---------------
    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "tally": self.tally.model_dump(mode="json"),
            "program": self.program,
            "program_problem": self.program_problem,
            "written": self._written,
            "judged_at": list(self._judged_at),
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        tally = CheckTally.model_validate(state["tally"])
        program, problem = state["program"], state["program_problem"]
        if tally.checker != self.kind or not (program is None or isinstance(program, str)):
            raise ValueError("the checkpoint's checker is another one")
        index, n = (int(x) for x in state["judged_at"])
        self.tally, self.program, self.program_problem = tally, program, None if problem is None else str(problem)
        self._written, self._judged_at = bool(state["written"]), (index, n)

    # --- the one entry point -----------------------------------------------------------------
    def judge(self, ep: Episode, step: Step, p: Proposal, truth: Verdict) -> Verdict:
        """The verdict the loop acts on; records the review and the truth on the proposal."""
        attempt = self._attempt(step)
        review = getattr(self, f"_{self.kind}")(ep, step, p, truth, attempt)
        own = review.verdict
        self.tally.add(own.ok, truth.ok)
        self.tally.unjudged += not review.judged
        acting = own
        if own.ok and truth.code == "illegal":  # the environment refuses what cannot be done
            self.tally.overruled += 1
            acting = truth
        p.truth, p.review = truth, review
        return acting

    def _attempt(self, step: Step) -> int:
        index, n = self._judged_at
        n = n + 1 if index == step.index else 0
        self._judged_at = (step.index, n)
        return n

    # --- rules -------------------------------------------------------------------------------
    def _rules(self, ep: Episode, step: Step, p: Proposal, truth: Verdict, attempt: int) -> Review:
        from agentloop.checkers import rules_verdict

        return Review(checker="rules", verdict=rules_verdict(ep.scenario, ep.instance, ep.tape.state, step, p.answer))

    # --- critic ------------------------------------------------------------------------------
    def _critic(self, ep: Episode, step: Step, p: Proposal, truth: Verdict, attempt: int) -> Review:
        from agentloop.checkers import critic_messages, critic_reply, parse_critic

        sc = ep.scenario
        messages = critic_messages(sc, ep.instance, ep.tape.state, step, p.answer, rules=ep.rules)
        hint = None
        if self.model.simulated:
            right = truth.ok
            hint = Hint(
                answers=(right,),
                render=lambda xs: critic_reply(bool(xs[0])),
                corrupt=lambda i, rng: not right,
                key=f"{ep.hint_key}:{step.index}:{attempt}:critic",
                role="critic",
            )
        replies: list[Reply] = []
        problem = "no reply"
        observed = sc.to_json_answer(p.answer)
        for sample in range(1 + ep.condition.format_retries):
            c = self._call(ep, messages, hint, sample, step, _CRITIC_SEED + attempt)
            try:
                approves, reason = parse_critic(c.text)
            except ParseError as exc:
                problem = str(exc)
                _keep(ep, replies, Reply.of(sample, c, None, problem))
                continue
            _keep(ep, replies, Reply.of(sample, c, "APPROVE" if approves else "REJECT"))
            if approves:
                return Review(checker="critic", verdict=Verdict.accept(observed), replies=replies)
            why = f"a reviewer rejected it: {reason}" if reason else "a reviewer rejected it"
            return Review(checker="critic", verdict=Verdict.reject("wrong", why, observed=observed), replies=replies)
        return Review(
            checker="critic", verdict=Verdict.accept(observed), judged=False,
            problem=f"the critic's reply could not be read ({problem}); the answer passes", replies=replies,
        )

    # --- program -----------------------------------------------------------------------------
    def _program(self, ep: Episode, step: Step, p: Proposal, truth: Verdict, attempt: int) -> Review:
        from agentloop.checkers import FUNCTION, read_value, task_json
        from agentloop.sandbox import run_function

        sc, inst, state = ep.scenario, ep.instance, ep.tape.state
        replies = [] if self._written else self._write_program(ep, step)
        observed = sc.to_json_answer(p.answer)

        def unjudged(why: str, value: Any = None) -> Review:
            return Review(checker="program", verdict=Verdict.accept(observed), judged=False, problem=why,
                          replies=replies, program_answer=value)

        if self.program is None:
            return unjudged(f"no program to run ({self.program_problem}); the answer passes")
        result = run_function(self.program, FUNCTION, task_json(sc, inst, state, step))
        if not result.ok:
            return unjudged(f"the program failed: {result.error}; the answer passes")
        try:
            computed = read_value(sc, step, result.value)
        except ParseError as exc:
            return unjudged(f"the program's result could not be read ({exc}); the answer passes", _clip(result.value))
        except Exception as exc:  # a parser's bug is not the program's verdict either
            return unjudged(f"the program's result could not be read ({type(exc).__name__}); the answer passes")
        self.tally.program_runs += 1
        try:  # scored, never acted on
            self.tally.program_ok += sc.check(inst, state, step, computed).ok
        except Exception:  # an answer so odd the simulator's check fails on it is not a right one
            pass
        value = sc.to_json_answer(computed)
        if answer_key(value) == answer_key(observed):
            return Review(checker="program", verdict=Verdict.accept(observed), replies=replies, program_answer=value)
        return Review(
            checker="program",
            verdict=Verdict.reject("wrong", "a checking program computed a different answer", observed=observed),
            replies=replies, program_answer=value,
        )

    def _write_program(self, ep: Episode, step: Step) -> list[Reply]:
        """Ask for the program once per episode (re-asked while no program can be read)."""
        from agentloop.checkers import REFERENCE, extract_program, program_messages

        self._written = True
        sc = ep.scenario
        messages = program_messages(sc, ep.instance, ep.tape.state, step, rules=ep.rules)
        hint = None
        if self.model.simulated:
            ref = REFERENCE[sc.name]
            hint = Hint(
                answers=(ref.source,),
                render=lambda xs: f"```python\n{xs[0]}\n```",
                corrupt=lambda i, rng: ref.buggy,
                key=f"{ep.hint_key}:program",
                role="program",
            )
        replies: list[Reply] = []
        self.program_problem = "no reply"
        for sample in range(1 + ep.condition.format_retries):
            c = self._call(ep, messages, hint, sample, step, _PROGRAM_SEED)
            try:
                self.program = extract_program(c.text)
            except ParseError as exc:
                self.program_problem = str(exc)
                _keep(ep, replies, Reply.of(sample, c, None, self.program_problem))
                continue
            _keep(ep, replies, Reply.of(sample, c, "program"))
            self.program_problem = None
            break
        return replies

    # --- calls ---------------------------------------------------------------------------------
    def _call(self, ep: Episode, messages: list[Message], hint: Hint | None, sample: int, step: Step, attempt: int):
        """A checker's request: within the episode's limits and counted in its usage, but not in
        the step's prompt size (that measures the worker's context)."""
        keep = ep.tally.prompt_tokens
        try:
            c = ep.call(messages, hint, sample, step=step.index, attempt=attempt, model=self.model)
        finally:
            ep.tally.prompt_tokens = keep
        self.tally.calls += 1
        self.tally.tokens += c.tokens_in + c.tokens_out
        return c


def _keep(ep: Episode, replies: list[Reply], r: Reply) -> None:
    if ep.transcripts:  # transcripts off: verdicts and counts only
        replies.append(r)


def _clip(value: Any, limit: int = 200) -> Any:
    text = repr(value)
    return value if len(text) <= limit else text[:limit] + "…"


__all__ = ["StepChecker", "check_checker"]
