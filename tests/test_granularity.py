"""The `granularity` parameter: bigger steps per call for eca, life, hanoi and multiply.

The registry-wide contract (tests/test_scenarios_contract.py) runs every granularity too; here is
what is specific to them: defaults leave records and keys unchanged, bad values are one-line
errors, parsers of the bigger answers are strict and total, a bigger step is wrong when any atom
is, and simulated models slip per atom.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.errors import AgentloopError, ParseError
from agentloop.experiment import episode_key
from agentloop.conditions import get_condition
from agentloop.loop import run_episode
from agentloop.scenarios import get_scenario, parse_params
from agentloop.scenarios._granularity import atoms_right, chunks

DEFAULTS = {
    "eca": {"rule": 110, "width": 16, "steps": 4},
    "life": {"rows": 6, "cols": 6, "steps": 1, "density": 0.35},
    "hanoi": {"disks": 4, "start": "random"},
    "multiply": {"n": 3, "m": 3},
}
OTHER = {"eca": "rows:2", "life": "board", "hanoi": "moves:3", "multiply": "partial"}


def oracle(name: str, params: dict, seed: int = 3):
    sc = get_scenario(name)
    inst = sc.generate(parse_params(sc, params), seed)
    state, run = sc.initial_state(inst), []
    for step in sc.steps(inst):
        answer = sc.solve(inst, state, step)
        run.append((step, state, answer))
        state = sc.apply(inst, state, step, answer)
    return sc, inst, run, state


# --- the parameter ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DEFAULTS))
def test_the_default_granularity_is_left_out_of_the_dump_so_old_keys_stay(name):
    sc = get_scenario(name)
    default = sc.Params()
    assert default.model_dump() == DEFAULTS[name]  # exactly the parameters before granularity existed
    explicit = parse_params(sc, {"granularity": default.granularity})
    assert explicit.model_dump() == DEFAULTS[name]
    cond = get_condition("tape")
    assert episode_key(name, explicit.model_dump(), cond, "scripted/oracle", {}, 0) == episode_key(
        name, DEFAULTS[name], cond, "scripted/oracle", {}, 0
    )
    other = parse_params(sc, {"granularity": OTHER[name]})
    assert other.model_dump()["granularity"] == OTHER[name]


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_the_record_names_a_granularity_that_is_not_the_default(name):
    r = run_episode(name, {"granularity": OTHER[name]}, condition="tape", model="scripted/oracle", seed=1)
    assert r.success and r.params["granularity"] == OTHER[name]
    r = run_episode(name, {}, condition="tape", model="scripted/oracle", seed=1)
    assert "granularity" not in r.params


@pytest.mark.parametrize("name,allowed", [("eca", "cell|row|rows:K"), ("life", "cell|row|board"),
                                          ("hanoi", "move|moves:K"), ("multiply", "digit|partial")])
def test_the_error_and_the_scenario_list_name_the_allowed_granularities(name, allowed):
    with pytest.raises(AgentloopError) as exc:
        parse_params(get_scenario(name), {"granularity": "diagonal"})
    assert f"granularity ({allowed})" in str(exc.value)


def test_rows_1_is_row_and_one_key():
    sc = get_scenario("eca")
    assert parse_params(sc, {"granularity": "rows:1"}).granularity == "row"
    hanoi = get_scenario("hanoi")
    assert parse_params(hanoi, {"granularity": "moves:1"}).model_dump() == DEFAULTS["hanoi"]


@pytest.mark.parametrize(
    "name,value",
    [("eca", "rows:0"), ("eca", "rows:1001"), ("eca", "board"), ("eca", "rows:x"), ("eca", "ROW"),
     ("life", "rows:2"), ("life", "column"), ("hanoi", "moves:0"), ("hanoi", "rows:2"), ("hanoi", "3"),
     ("multiply", "row"), ("multiply", "Partial")],
)
def test_bad_granularities_are_one_line_errors(name, value):
    with pytest.raises(AgentloopError) as exc:
        parse_params(get_scenario(name), {"granularity": value})
    assert str(exc.value).startswith(f"{name}: parameter granularity=") and "\n" not in str(exc.value)
    res = CliRunner().invoke(app, ["run", name, "-p", f"granularity={value}"])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: {name}: parameter granularity") and res.stderr.count("\n") == 1


# --- steps: the same task, cut differently -------------------------------------------------------
@pytest.mark.parametrize(
    "name,params,granularity,calls",
    [
        ("eca", {"width": 8, "steps": 5}, "row", 5),
        ("eca", {"width": 8, "steps": 5}, "rows:2", 3),
        ("eca", {"width": 8, "steps": 5}, "rows:5", 1),
        ("life", {"rows": 4, "cols": 5, "steps": 2}, "row", 8),
        ("life", {"rows": 4, "cols": 5, "steps": 2, "topology": "torus"}, "board", 2),
        ("hanoi", {"disks": 4, "start": "classic"}, "moves:4", 4),
        ("hanoi", {"disks": 5}, "moves:2", None),
        ("multiply", {"n": 3, "m": 4}, "partial", 5),
        ("multiply", {"n": 4, "m": 1}, "partial", 1),
    ],
)
def test_every_granularity_reaches_the_default_s_final_state_with_as_many_atoms(name, params, granularity, calls):
    sc, inst, run, final = oracle(name, params)
    sc2, inst2, run2, final2 = oracle(name, {**params, "granularity": granularity})
    assert final2 == final and sc.result_json(inst, final, [a for _, _, a in run]) == sc2.result_json(
        inst2, final2, [a for _, _, a in run2]
    )
    if calls is not None:
        assert len(run2) == calls
    atoms = [x for step, _, a in run2 for x in sc2.atoms(inst2, step, a)]
    if name == "multiply":  # a partial product is its n digit steps' writing, the sum its columns'
        assert len(atoms) == len(run)
    else:
        assert atoms == [a for _, _, a in run]  # the very moves (hanoi) or cells of the default plan, in order


def test_chunks_cover_the_total_with_a_shorter_last_call():
    assert chunks(5, 2) == [(0, 2), (2, 2), (4, 1)]
    assert chunks(3, 5) == [(0, 3)]


# --- the bigger answers: parsers -----------------------------------------------------------------
ROWS = st.integers(1, 4).flatmap(
    lambda n: st.integers(3, 12).flatmap(
        lambda w: st.lists(st.lists(st.integers(0, 1), min_size=w, max_size=w), min_size=n, max_size=n)
    )
)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, label=st.booleans(), fence=st.booleans())
def test_eca_rows_round_trip_with_labels_and_fences(rows, label, fence):
    width, n = len(rows[0]), len(rows)
    sc = get_scenario("eca")
    inst = sc.generate(parse_params(sc, {"width": width, "steps": n, "granularity": f"rows:{n}"}), 0)
    step = sc.steps(inst)[0]
    answer = tuple(tuple(r) for r in rows)
    text = "\n".join(f"generation {g + 1}: " * label + "".join(map(str, r)) for g, r in enumerate(rows))
    text = f"```\n{text}\n```" if fence else text
    assert sc.parse(text, step) == answer
    assert sc.parse(sc.format_answer(answer), step) == answer


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, drop=st.booleans(), cut=st.integers(0, 11))
def test_eca_rows_of_the_wrong_count_or_width_are_parse_errors(rows, drop, cut):
    width, n = len(rows[0]), len(rows)
    sc = get_scenario("eca")
    inst = sc.generate(parse_params(sc, {"width": width, "steps": n, "granularity": f"rows:{n}"}), 0)
    step = sc.steps(inst)[0]
    lines = ["".join(map(str, r)) for r in rows]
    if drop:
        lines = lines[:-1] if n > 1 else lines + lines  # one row too few, or too many
    else:
        lines[cut % n] = lines[cut % n][: cut % width] + lines[cut % n][cut % width + 1:]  # a short row
    with pytest.raises(ParseError):
        sc.parse("\n".join(lines), step)


@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=200))
def test_bigger_step_parsers_are_total_on_any_text(text):
    for name in DEFAULTS:
        sc, inst, run, _ = oracle(name, {"granularity": OTHER[name]})
        for step, state, _ in run[:2]:
            try:
                answer = sc.parse(text, step)
            except ParseError:
                continue
            assert sc.parse(sc.format_answer(answer), step) == answer
            sc.check(inst, state, step, answer)


@settings(max_examples=60, deadline=None)
@given(moves=st.lists(st.tuples(st.integers(1, 9), st.integers(0, 2), st.integers(0, 2)), min_size=2, max_size=5),
       sep=st.sampled_from(["\n", "\n\n", "\r\n"]), brackets=st.booleans())
def test_hanoi_move_bundles_parse_exactly_k_moves(moves, sep, brackets):
    sc = get_scenario("hanoi")
    inst = sc.generate(parse_params(sc, {"disks": 4, "granularity": f"moves:{len(moves)}"}), 1)
    step = sc.steps(inst)[0]
    if step.key[1] != len(moves):
        return  # a plan shorter than the bundle
    fmt = (lambda m: f"[{m[0]}, {m[1]}, {m[2]}]") if brackets else (lambda m: f"{m[0]} {m[1]} {m[2]}")
    assert sc.parse(sep.join(map(fmt, moves)), step) == tuple(moves)
    with pytest.raises(ParseError):
        sc.parse(sep.join(map(fmt, moves + moves[:1])), step)  # one move too many
    with pytest.raises(ParseError):
        sc.parse(sep.join(map(fmt, moves)) + " 4", step)


@settings(max_examples=60, deadline=None)
@given(a=st.integers(1, 10**6), b=st.integers(1, 9))
def test_multiply_partial_parses_whole_numbers_and_atoms_rejoin(a, b):
    sc = get_scenario("multiply")
    inst = sc.generate(parse_params(sc, {"n": 3, "m": 2, "granularity": "partial"}), 0)
    step = sc.steps(inst)[0]
    assert sc.parse(f"{a * b}", step) == a * b and sc.parse(f"answer: {a * b}.", step) == a * b
    assert sc.join_atoms(inst, step, sc.atoms(inst, step, a * b)) == a * b
    for bad in (f"{a} x {b}", f"-{a}", f"{a}.5", "1" * 60):
        with pytest.raises(ParseError):
            sc.parse(bad, step)


# --- verdicts: wrong if any atom is wrong, with the count ------------------------------------------
def test_a_row_with_one_wrong_cell_is_wrong_and_says_how_many_cells_without_which():
    sc, inst, run, _ = oracle("eca", {"width": 8, "steps": 2, "granularity": "row"})
    step, state, answer = run[0]
    bad = ((1 - answer[0][0], *answer[0][1:]),)
    v = sc.check(inst, state, step, bad)
    assert not v.ok and v.code == "wrong" and "1 of 8 cells" in v.reason
    assert v.expected == answer and v.observed == bad  # lists in the record's JSON
    assert atoms_right(sc, inst, step, v, 8) == 7
    assert atoms_right(sc, inst, step, sc.check(inst, state, step, answer), 8) == 8


def test_life_board_counts_wrong_cells():
    sc, inst, run, _ = oracle("life", {"rows": 4, "cols": 4, "granularity": "board"})
    step, state, answer = run[0]
    flipped = tuple(tuple(1 - b for b in row) for row in answer)
    v = sc.check(inst, state, step, flipped)
    assert not v.ok and "16 of 16 cells" in v.reason and atoms_right(sc, inst, step, v, 16) == 0


def test_a_hanoi_bundle_with_an_illegal_move_is_illegal_and_never_committed():
    sc, inst, run, _ = oracle("hanoi", {"disks": 4, "start": "classic", "granularity": "moves:3"})
    step, state, answer = run[0]
    assert answer == ((1, 0, 1), (2, 0, 2), (1, 1, 2))
    bad = (answer[0], answer[1], (3, 0, 1))  # disk 3 onto the smaller disk 1
    v = sc.check(inst, state, step, bad)
    assert v.code == "illegal" and v.reason.startswith("move 3: ") and "1 of 3 moves" in v.reason
    assert atoms_right(sc, inst, step, v, 3) == 2
    wrong_but_legal = (answer[0], (1, 1, 0), (1, 0, 2))
    v = sc.check(inst, state, step, wrong_but_legal)
    assert v.code == "wrong" and "2 of 3 moves" in v.reason
    # in a run, an illegal bundle is not committed: the episode stops where it was
    r = run_episode("hanoi", {"disks": 4, "start": "classic", "granularity": "moves:3"}, condition="tape",
                    model="scripted/noisy", model_args={"error": 0.5, "seed": 0}, seed=0)
    illegal = [s for s in r.steps if s.code == "illegal"]
    assert illegal and not illegal[0].committed and r.status == "failed"


def test_multiply_partial_counts_digits_like_the_digit_steps_would():
    sc, inst, run, _ = oracle("multiply", {"n": 3, "m": 2, "granularity": "partial"})
    step, state, answer = run[0]
    assert len(sc.atoms(inst, step, answer)) == 3  # the three digit steps of one partial product
    v = sc.check(inst, state, step, answer + 10)
    assert v.code == "wrong" and "1 of 3 digits" in v.reason and atoms_right(sc, inst, step, v, 3) == 2
    # a record keeps a huge sum as a string; it still splits into digits
    last, state, total = run[-1]
    assert sc.atoms(inst, last, str(total)) == sc.atoms(inst, last, total)


# --- simulated models slip per atom ----------------------------------------------------------------
def _rates(name: str, params: dict, error: float, seeds: int) -> tuple[float, float, float]:
    """(atom accuracy, call accuracy, atoms per call) of scripted/noisy's first attempts."""
    atoms = atoms_ok = calls = calls_ok = 0
    for seed in range(seeds):
        r = run_episode(name, params, condition="tape", model="scripted/noisy",
                        model_args={"error": error, "seed": 7}, seed=seed)
        sc, inst, run, _ = oracle(name, params, seed)
        for s in r.steps:
            v = s.attempts[0].verdict
            size = len(sc.atoms(inst, run[s.index][0], run[s.index][2]))
            atoms += size
            atoms_ok += atoms_right(sc, inst, run[s.index][0], v, size)
            calls += 1
            calls_ok += v.ok
    return atoms_ok / atoms, calls_ok / calls, atoms / calls


@pytest.mark.parametrize("granularity", ["cell", "row", "rows:4"])
def test_scripted_noisy_error_is_per_atom_whatever_the_step_size(granularity):
    """`error` is the probability that one atomic answer is wrong: a row of 16 cells is right with
    probability (1 - error)^16, and per cell the accuracy stays 1 - error."""
    atom_acc, call_acc, k = _rates("eca", {"width": 16, "steps": 4, "granularity": granularity}, 0.05, 40)
    assert abs(atom_acc - 0.95) < 0.02
    assert abs(call_acc - 0.95**k) < (0.03 if k == 1 else 0.12)


def test_oneshot_slips_are_per_atom_too():
    """A whole-task reply under a bigger granularity slips cell by cell, as under the default."""
    for g in ("cell", "rows:2"):
        wrong = total = 0
        for seed in range(30):
            r = run_episode("eca", {"width": 8, "steps": 4, "granularity": g}, condition="oneshot",
                            model="scripted/noisy", model_args={"error": 0.1, "seed": 3}, seed=seed)
            sc, inst, run, _ = oracle("eca", {"width": 8, "steps": 4}, seed)
            reply = sc.parse_trajectory(inst, r.steps[0].attempts[0].replies[0].text)
            truth = [a for _, _, a in run]
            wrong += sum(a != b for a, b in zip(reply, truth))
            total += len(truth)
        assert abs(wrong / total - 0.1) < 0.03, (g, wrong / total)


def test_votes_on_a_long_row_are_not_red_flagged():
    r = run_episode("eca", {"width": 64, "steps": 2, "granularity": "rows:2"}, condition="vote",
                    model="scripted/oracle", seed=0)
    assert r.success and r.format_retries == 0


def test_corrupt_changes_one_atom_of_a_bigger_answer():
    rng = random.Random(0)
    for name in DEFAULTS:
        sc, inst, run, _ = oracle(name, {"granularity": OTHER[name]})
        for step, state, answer in run[:3]:
            wrong = sc.corrupt(inst, state, step, answer, rng)
            diff = sum(a != b for a, b in zip(sc.atoms(inst, step, wrong), sc.atoms(inst, step, answer)))
            assert diff == 1, (name, step, answer, wrong)


# --- the study's table -------------------------------------------------------------------------
def test_the_atom_table_counts_atoms_per_step_and_their_accuracy():
    from agentloop.scenarios._granularity import atom_table, format_atom_table

    recs = [run_episode("eca", {"width": 8, "steps": 2, "granularity": g}, condition="tape",
                        model="scripted/oracle", seed=s) for g in ("cell", "row") for s in range(2)]
    noisy = run_episode("eca", {"width": 8, "steps": 3, "granularity": "row"}, condition="tape",
                        model="scripted/noisy", model_args={"error": 0.3, "seed": 1}, seed=0)
    rows = {(r.granularity, r.model): r for r in atom_table([*recs, noisy])}
    cell, row = rows["cell", "scripted/oracle"], rows["row", "scripted/oracle"]
    assert (cell.atoms_per_call, cell.calls, cell.atom_accuracy, cell.solved) == (1, 32, 1.0, 2)
    assert (row.atoms_per_call, row.calls, row.call_accuracy, row.episodes) == (8, 4, 1.0, 2)
    n = rows["row", "scripted/noisy"]
    # by hand: each first attempt's cells against the right row from the same state
    right = sum(
        sum(a == b for a, b in zip(sum(s.attempts[0].verdict.observed, ()), sum(s.attempts[0].verdict.expected or
            s.attempts[0].verdict.observed, ())))
        for s in noisy.steps
    )
    assert n.atoms == 8 * len(noisy.steps) and n.atoms_ok == right < n.atoms
    table = format_atom_table(list(rows.values()), simulated=True)
    assert "| eca | row | tape | scripted/noisy | 8.0 |" in table and "atom accuracy (simulated)" in table


def test_the_atom_table_leaves_out_stored_steps_beyond_the_scenario_s_plan():
    """A record with more steps than the plan of its instance (a record from an older plan, or
    doctored) is counted up to the plan: the steps after it have no size to count."""
    from agentloop.scenarios._granularity import atom_table

    rec = run_episode("eca", {"width": 8, "steps": 2, "granularity": "row"}, condition="tape",
                      model="scripted/oracle", seed=0)
    assert [s.index for s in rec.steps] == [0, 1]
    extra = [rec.steps[-1].model_copy(update={"index": i}) for i in (2, 3)]
    longer = rec.model_copy(update={"steps": [*rec.steps, *extra]})
    (row,) = atom_table([longer])
    assert (row.episodes, row.solved, row.calls, row.calls_ok, row.atoms, row.atoms_ok) == (1, 1, 2, 2, 16, 16)


def test_the_table_tool_reads_a_run_and_refuses_a_missing_one(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    from agentloop.experiment import parse_experiment, run_experiment

    spec = importlib.util.spec_from_file_location(
        "granularity_table", Path(__file__).parents[1] / "tools" / "granularity_table.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    text = (
        'name = "g"\nseeds = 2\nconditions = ["tape"]\n[[scenarios]]\nname = "hanoi"\n'
        'params = { disks = 3, granularity = ["move", "moves:3"] }\n[[models]]\nname = "scripted/oracle"\n'
    )
    run_experiment(parse_experiment(text), tmp_path / "run", progress=False)
    assert tool.main([str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "| hanoi | moves:3 | tape | scripted/oracle |" in out and "| hanoi | move | tape |" in out


@pytest.mark.parametrize(
    "name,params,reply",
    [("eca", {"width": 8, "granularity": "rows:2"}, "generation 1: 01100110\n"),
     ("life", {"rows": 3, "cols": 3, "granularity": "board"}, "generation 1:\n010\n"),
     ("hanoi", {"disks": 3, "granularity": "moves:3"}, "[3, 2, 0]\n")],
)
def test_a_whole_task_reply_that_ends_inside_the_first_call_is_a_parse_error(name, params, reply):
    """Found by tools/fuzz.py: such a reply read as no calls at all (an empty answer list)."""
    sc = get_scenario(name)
    inst = sc.generate(parse_params(sc, params), 1)
    with pytest.raises(ParseError):
        sc.parse_trajectory(inst, reply)


def test_atoms_are_compared_as_json_values_so_a_record_read_back_counts_the_same():
    sc, inst, run, _ = oracle("hanoi", {"disks": 4, "start": "classic", "granularity": "moves:3"})
    step, state, answer = run[0]
    wrong_but_legal = (answer[0], (1, 1, 0), (1, 0, 2))
    v = sc.check(inst, state, step, wrong_but_legal)
    as_read_back = v.model_copy(update={"expected": json.loads(json.dumps(v.expected))})  # lists, not tuples
    assert atoms_right(sc, inst, step, v, 3) == atoms_right(sc, inst, step, as_read_back, 3) == 1
    short = v.model_copy(update={"observed": [list(answer[0][:2]), list(answer[1]), list(answer[2])]})
    assert atoms_right(sc, inst, step, short, 3) == 2  # a move missing its target is not the move
    assert atoms_right(sc, inst, step, v.model_copy(update={"observed": None}), 3) == 0
    assert atoms_right(sc, inst, step, v.model_copy(update={"code": "format"}), 3) == 0
