"""TextArena's single-player games as scenarios (agentloop.interop.ta, the [arena] extra).

Offline: scripted replies (a tiny fake model) play whole games through `run_episode` — solved,
out of turns, an illegal move (TextArena's invalid-move signal) ending the episode or, under
`verify`, re-asked. The games are TextArena's own environments, replayed from the tuple of moves
(the state), so a scenario never mutates what it was given. The real local model plays each
done-when game to the end (marked local_model).
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys

import pytest
from conftest import requires_extra
from fakes import Scripted

from agentloop.errors import AgentloopError, ParseError
from agentloop.loop import run_episode
from agentloop.scenarios import describe_params, get_scenario, parse_params

HAVE_ARENA = importlib.util.find_spec("textarena") is not None
needs_arena = requires_extra("arena", HAVE_ARENA, "textarena==0.7.4")

HANOI = "agentloop.interop.ta:TowerOfHanoi-v0"
SUDOKU = "ta/Sudoku-v0"  # registered by name (they have an oracle: TextArena's hidden solution)
CROSSWORDS = "ta/Crosswords-v0"
MINES = "agentloop.interop.ta:Minesweeper-v0"
OPTIMAL_3 = ["[A C]", "[A B]", "[C B]", "[A C]", "[B A]", "[B C]", "[A C]"]


def _env(path: str, seed: int, **params):
    from agentloop.interop._arena import _env_after

    sc = get_scenario(path)
    inst = sc.generate(sc.Params(**params), seed)
    return sc, inst, _env_after(inst.env_id, inst.seed, inst.max_turns, ())


def _sudoku_moves(seed: int) -> list[str]:
    _, _, env = _env(SUDOKU, seed)
    board = env.state.game_state["board"]
    return [f"[{r + 1} {c + 1} {env.full_grid[r][c]}]" for r in range(9) for c in range(9) if board[r][c] == 0]


def _crossword_moves(seed: int) -> list[str]:
    _, _, env = _env(CROSSWORDS, seed)
    gs = env.state.game_state
    return [f"[{r} {c} {gs['solution'][r][c]}]" for r, row in enumerate(gs["board"]) for c, cell in enumerate(row) if cell == "_"]


# --- no import of textarena at import agentloop ---------------------------------------------------
def test_importing_the_adapter_does_not_import_textarena():
    code = ("import sys, agentloop, agentloop.interop.ta as ta; from agentloop.scenarios import get_scenario; "
            "get_scenario('ta/Sudoku-v0').summary; ta.Crosswords.name; assert 'textarena' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_the_extra_an_instance_is_a_one_line_error_naming_the_install(monkeypatch):
    import builtins

    from agentloop.interop import _arena

    real = builtins.__import__

    def no_textarena(name, *a, **kw):
        if name == "textarena" or name.startswith("textarena."):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_textarena)
    with pytest.raises(AgentloopError) as exc:
        _arena.env_spec("Sudoku-v0")
    assert "pip install 'agentloop[arena]'" in str(exc.value) and "\n" not in str(exc.value)


# --- whole games with scripted replies --------------------------------------------------------------
@needs_arena
def test_hanoi_played_optimally_is_solved_in_the_shortest_solution():
    model = Scripted(OPTIMAL_3)
    r = run_episode(HANOI, {}, condition="tape", model=model, seed=0)
    assert r.status == "solved" and r.success and r.error is None
    assert r.steps_total == 7 and all(r.step_ok) and len(r.step_ok) == 7  # 2^3 - 1, within 14 turns
    assert r.answer["moves"] == OPTIMAL_3 and r.answer["reward"] == 1 and r.answer["done"]
    # The step prompt shows the environment's current observation: the board after the last move.
    second = model.prompts[1][-1]["content"]
    assert "You moved disk 1 from A to C." in second and "C: [1]" in second and "Turn 2 of 14" in second
    assert "Tower of Hanoi" in model.prompts[0][0]["content"]  # TextArena's own rules: the system message


@needs_arena
def test_legal_moves_off_the_shortest_solution_are_wrong_and_fail_at_the_turn_limit():
    r = run_episode(HANOI, {"max_turns": 6}, condition="tape", model=Scripted(["[A B]", "[B A]"] * 3), seed=0)
    assert r.status == "failed" and not r.success and r.steps_total == 6  # the plan is cut at the turn limit
    assert [s.code for s in r.steps] == ["wrong", "wrong", "wrong", "wrong", "wrong", "wrong"] and all(s.committed for s in r.steps)
    assert r.steps[0].attempts[0].verdict.expected == "[A C]"
    # TextArena counts its turn limit before the move (it would take a 7th); the plan stops at 6.
    assert r.answer["moves"] == ["[A B]", "[B A]"] * 3 and not r.answer["done"] and r.answer["reward"] is None


@needs_arena
def test_an_illegal_move_is_textarenas_invalid_move_signal_and_ends_the_episode():
    r = run_episode(HANOI, {}, condition="tape", model=Scripted(["[A C]", "[A C]"]), seed=0)
    assert r.status == "failed" and not r.success and r.step_ok == [True, False]
    step = r.steps[1]
    assert step.code == "illegal" and not step.committed and r.first_error_step == 1
    assert step.attempts[-1].verdict.reason == "You tried to place a larger disk on a smaller disk."
    assert r.answer["moves"] == ["[A C]"]  # the illegal move was never played


@needs_arena
def test_verify_re_asks_after_an_illegal_move_with_the_environments_reason():
    script = ["[A C]", "[A C]", *OPTIMAL_3[1:]]
    model = Scripted(script)
    r = run_episode(HANOI, {}, condition="verify", model=model, seed=0)
    assert r.success and r.steps[1].attempts[0].verdict.code == "illegal" and r.steps[1].committed
    assert any("larger disk" in m["content"] for m in model.prompts[2])  # the re-ask carries the reason


@needs_arena
def test_sudoku_filled_from_its_solution_is_solved_and_a_wrong_digit_is_illegal():
    moves = _sudoku_moves(3)
    assert 10 < len(moves) < 40
    r = run_episode(SUDOKU, {}, condition="tape", model=Scripted(moves), seed=3)
    assert r.success and r.steps_total == len(moves) and r.answer["moves"] == moves  # one turn per empty cell
    first = moves[0]
    wrong = first[:-2] + str(int(first[-2]) % 9 + 1) + "]"
    bad = run_episode(SUDOKU, {"max_turns": 5}, condition="tape", model=Scripted([wrong]), seed=3)
    assert bad.status == "failed" and bad.steps[0].code == "illegal" and "violates Sudoku rules" in bad.steps[0].attempts[0].verdict.reason


@needs_arena
def test_crosswords_filled_letter_by_letter_is_solved_within_its_30_turns():
    moves = _crossword_moves(1)
    assert 0 < len(moves) <= 30
    model = Scripted([m.lower() if i % 2 else m for i, m in enumerate(moves)])  # letters in either case
    r = run_episode(CROSSWORDS, {}, condition="stepwise", model=model, seed=1)
    assert r.success and r.steps_total == len(moves)  # one turn per empty cell, within TextArena's 30
    assert "Here are the clues" in model.prompts[0][-1]["content"] or "clues" in model.prompts[0][0]["content"].lower()


@needs_arena
def test_minesweeper_makes_resets_and_takes_a_first_move():
    r = run_episode(MINES, {"max_turns": 1}, condition="tape", model=Scripted(["[3 3]"]), seed=0)
    assert r.status in ("solved", "failed") and r.error is None and r.step_ok == [True]


# --- the state is a value; the environment is rebuilt from it ----------------------------------------
@needs_arena
def test_apply_is_pure_the_global_random_state_is_kept_and_seeds_give_other_games():
    sc = get_scenario(CROSSWORDS)
    inst = sc.generate(sc.Params(), 4)
    assert sc.generate(sc.Params(), 4) == inst
    random.seed(123)
    before = random.random()
    random.seed(123)
    state = sc.initial_state(inst)
    step = sc.steps(inst)[0]
    move = _crossword_moves(4)[0]
    after = sc.apply(inst, state, step, move)
    assert state == () and after == (move,) and isinstance(after, tuple)
    assert sc.check(inst, state, step, move).ok and sc.check(inst, after, step, move).code == "illegal"
    assert random.random() == before  # TextArena reseeds the global random on reset: restored
    boards = {sc.show_initial(sc.generate(sc.Params(), s)) for s in range(10)}
    assert len(boards) == 10


@needs_arena
def test_moves_parse_strictly_and_with_harmless_decoration():
    sc = get_scenario(HANOI)
    step = sc.steps(sc.generate(sc.Params(), 0))[0]
    for text in ["[A C]", "  [a c] ", "```\n[A C]\n```", "My move: [A, C].", "[A C]\n[A C]"]:
        assert sc.parse(text, step) == "[A C]", text
    for text in ["", "A C", "?", "[A D]", "[A C] or [A B]", "1 2 3 4 5 6 7 8 9 10"]:
        with pytest.raises(ParseError):
            sc.parse(text, step)
    sd = get_scenario(SUDOKU)
    assert sd.parse("[3, 4, 7]", step) == "[3 4 7]"
    cw = get_scenario(CROSSWORDS)
    assert cw.parse("[2 5 e]", step) == "[2 5 E]"


@needs_arena
def test_parameters_are_bounded_one_line_errors_and_lower_the_turn_limit_only():
    sc = get_scenario(SUDOKU)
    assert [p["name"] for p in describe_params(sc)] == ["max_turns"]
    with pytest.raises(AgentloopError) as exc:
        parse_params(sc, {"max_turns": "-1"})
    assert "\n" not in str(exc.value)
    assert sc.generate(sc.Params(max_turns=20), 0).max_turns == 20
    assert sc.generate(sc.Params(max_turns=500), 0).max_turns == 100  # never above the environment's own


@needs_arena
def test_wordle_is_unavailable_offline_with_the_reason_and_unknown_ids_are_one_line_errors():
    from agentloop.interop.ta import UNAVAILABLE, arena_scenario

    with pytest.raises(AgentloopError, match="nltk") as exc:
        arena_scenario("Wordle-v0")
    assert "\n" not in str(exc.value) and "Wordle-v0" in UNAVAILABLE
    with pytest.raises(AgentloopError, match="no environment"):
        arena_scenario("NoSuchGame-v0")
    generic = get_scenario("agentloop.interop.ta:FifteenPuzzle-v0")
    inst = generic.generate(generic.Params(), 0)
    assert generic.name == "ta/FifteenPuzzle-v0" and generic.show_initial(inst)


# --- the real local model plays each done-when game to the end -----------------------------------------


def _have_model() -> bool:
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    from agentloop.models._weights import CATALOGUE, DEFAULT, is_installed

    return is_installed(CATALOGUE[DEFAULT])


needs_model = requires_extra("local", _have_model(), "llama-cpp-python and the default weights")


@pytest.mark.local_model
@needs_arena
@needs_model
@pytest.mark.parametrize(("path", "params"), [(CROSSWORDS, {}), (SUDOKU, {"max_turns": 20}), (HANOI, {})])
def test_the_local_model_plays_a_real_game_to_the_end(path, params):
    r = run_episode(path, params, condition="tape", model="local/gemma3-270m", seed=1)
    assert r.status in ("solved", "failed") and r.error is None and not r.simulated
    assert 1 <= len(r.step_ok) <= r.steps_total and r.calls >= len(r.step_ok)


@needs_arena
def test_oneshot_plays_the_whole_reply_move_by_move():
    r = run_episode(HANOI, {}, condition="oneshot", model=Scripted(["\n".join(OPTIMAL_3)]), seed=0)
    assert r.success and r.calls == 1 and r.answer["moves"] == OPTIMAL_3 and len(r.step_ok) == 7
    bad = run_episode(HANOI, {}, condition="oneshot", model=Scripted(["[A C]\n[A C]"]), seed=0)
    assert bad.status == "failed" and bad.steps[1].code == "illegal"


@needs_arena
def test_hanoi_v0_is_one_fixed_game_and_the_record_says_so():
    sc = get_scenario(HANOI)
    assert len({str(sc.initial_json(sc.generate(sc.Params(), s))) for s in range(5)}) == 1


def _without_textarena(*argv: str) -> subprocess.CompletedProcess:
    """The CLI in a fresh process in which textarena cannot be imported (as if not installed)."""
    code = "import sys; sys.modules['textarena'] = None; sys.argv = ['agentloop', *sys.argv[1:]]; from agentloop.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)


def test_scenarios_lists_the_ta_games_and_how_to_install_them_without_the_extra():
    import json

    listed = {s["name"]: s for s in json.loads(_without_textarena("scenarios", "--json").stdout)}
    for name in (SUDOKU, CROSSWORDS):
        assert "pip install 'agentloop[arena]'" in json.dumps(listed[name])
    res = _without_textarena("run", SUDOKU)
    assert res.returncode != 0 and res.stderr == "error: TextArena games need the [arena] extra: pip install 'agentloop[arena]'\n"


@needs_arena
def test_scenarios_lists_the_ta_games_with_the_extra():
    from typer.testing import CliRunner

    from agentloop.cli import app

    res = CliRunner().invoke(app, ["scenarios", "--json"])
    assert res.exit_code == 0 and '"ta/Crosswords-v0"' in res.stdout and '"ta/Sudoku-v0"' in res.stdout
    assert '"ta/TowerOfHanoi-v0"' in res.stdout
    assert "needs the [arena] extra" not in res.stdout


@needs_arena
def test_hanoi_by_name_and_its_bigger_variants_are_solved_by_the_oracle_from_the_cli():
    from typer.testing import CliRunner

    from agentloop.cli import app

    for name, moves in [("ta/TowerOfHanoi-v0", 7), ("agentloop.interop.ta:TowerOfHanoi-v0-medium", 15)]:
        res = CliRunner().invoke(app, ["run", name, "--condition", "tape", "--model", "scripted/oracle", "--json"])
        assert res.exit_code == 0, res.output
        rec = json.loads(res.stdout)
        assert rec["success"] and rec["steps_total"] == moves and rec["answer"]["reward"] == 1


@needs_arena
def test_a_whole_reply_is_read_up_to_the_plan_never_past_it():
    sc = get_scenario(SUDOKU)
    inst = sc.generate(sc.Params(), 1)
    moves = _sudoku_moves(1)
    assert sc.parse_trajectory(inst, "\n".join(moves + moves[:3])) == moves  # the fuzzer's find
    hanoi = get_scenario(HANOI)
    h = hanoi.generate(hanoi.Params(max_turns=9), 0)
    assert hanoi.parse_trajectory(h, "\n".join(OPTIMAL_3)) == OPTIMAL_3  # the plan is the 7 moves
    assert hanoi.parse_trajectory(h, "[A B]\n[B A]") == ["[A B]", "[B A]"]  # not won: as written
