"""agentloop learn without torch: data from the simulators, model names, config, intervals, CLI errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agentloop.errors import AgentloopError
from agentloop.learn import World, make_config, parse_model, quick_config, seed_interval
from agentloop.learn._config import WHOLE_OPTIONS
from agentloop.learn import _data
from agentloop.learn._data import flatten, train_seed
from agentloop.scenarios import eca, life

# --- data: the generator is the simulator -------------------------------------------------------


@pytest.mark.parametrize("rule", [0, 28, 90, 110])
def test_eca_rows_and_targets_come_from_the_scenario(rule):
    w = World("eca", rule)
    for k in range(20):
        row = w.sample(32, train_seed(0, k))
        assert row == eca.Eca().generate(eca.EcaParams(rule=rule, width=32), train_seed(0, k)).initial
        assert w.step(row) == eca.next_row(rule, row)
        assert w.rollout(row, 3)[-1] == eca.next_row(rule, eca.next_row(rule, eca.next_row(rule, row)))


def test_life_boards_and_targets_come_from_the_scenario():
    w = World("life", density=0.35)
    board = w.sample(8, 7)
    assert board == life.Life().generate(life.LifeParams(rows=8, cols=8, density=0.35), 7).initial
    assert w.step(board) == life.next_board(board)
    assert len(flatten(board)) == 64


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.integers(0, 255), st.tuples(*[st.integers(0, 1)] * 3))
def test_eca_window_label_is_the_simulators_next_cell(rule, window):
    # On a 3-cell ring the middle cell's neighbours are exactly the window.
    assert World("eca", rule).centre(window) == eca.next_row(rule, window)[1]


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=9, max_size=9))
def test_life_window_label_is_the_simulators_next_board_centre(cells):
    board = (tuple(cells[0:3]), tuple(cells[3:6]), tuple(cells[6:9]))
    assert World("life").centre(cells) == life.next_board(board)[1][1]


def test_patterns_cover_every_neighbourhood_once():
    assert len({w for w, _ in World("eca", 110).patterns()}) == 8
    assert len({w for w, _ in World("life").patterns()}) == 512
    # rule 110's table, high pattern first: 111→0 110→1 101→1 100→0 011→1 010→1 001→1 000→0
    assert [c for _, c in sorted(World("eca", 110).patterns(), reverse=True)] == [0, 1, 1, 0, 1, 1, 1, 0]


def test_training_and_test_seeds_never_collide():
    train = {train_seed(s, k) for s in range(3) for k in range(1000)}
    test = {_data.test_seed(s, size, i) for s in range(3) for size in (32, 64, 96) for i in range(200)}
    assert not train & test


# --- model names and config -------------------------------------------------------------------

_OPTS = list(WHOLE_OPTIONS)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.permutations(_OPTS).flatmap(lambda p: st.integers(0, len(p)).map(lambda n: p[:n])))
def test_whole_model_names_round_trip_in_any_order(opts):
    text = "+".join(["whole", *opts])
    if "sinusoidal" in opts and "xy" in opts:
        with pytest.raises(AgentloopError):
            parse_model(text)
        return
    spec = parse_model(text)
    assert set(spec.options) == set(opts)
    assert parse_model(spec.name) == spec
    assert spec.positions == ("sinusoidal" if "sinusoidal" in opts else "xy" if "xy" in opts else "learned")


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=30))
def test_any_model_text_parses_or_is_a_one_line_user_error(text):
    try:
        spec = parse_model(text)
    except AgentloopError as exc:
        assert "\n" not in str(exc)
    else:
        assert spec.kind in ("whole", "local", "decoder")


@pytest.mark.parametrize(
    "text, name", [("decoder", "decoder"), ("DECODER", "decoder"), ("whole+gru", "whole+gru"),
                   ("whole+gru+conv", "whole+conv+gru"), ("whole+gru+sinusoidal", "whole+sinusoidal+gru")]
)
def test_the_recurrent_and_decoder_variants_have_canonical_names(text, name):
    assert parse_model(text).name == name


@pytest.mark.parametrize("text", ["decoder+conv", "decoder+gru", "local+gru", "gru", "rnn"])
def test_the_decoder_takes_no_options_and_gru_is_an_option_of_whole(text):
    with pytest.raises(AgentloopError) as err:
        parse_model(text)
    assert "\n" not in str(err.value) and "decoder" in str(err.value)


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"scenario": "eca", "sizes": (32, 2000)}, "out of range"),
        ({"scenario": "life", "train_size": 100}, "out of range"),
        ({"scenario": "eca", "models": ["whole+xy"]}, "+xy"),
        ({"scenario": "eca", "models": ["whole", "whole"]}, "twice"),
        ({"scenario": "eca", "rule": 300}, "rule"),
        ({"scenario": "eca", "rollouts": (0,)}, "rollouts"),
        ({"scenario": "eca", "d_model": 30, "heads": 4}, "multiple"),
        ({"scenario": "eca", "colour": 1}, "unknown setting"),
        ({"scenario": "hanoi"}, "scenario"),
    ],
)
def test_bad_config_is_a_one_line_user_error(values, fragment):
    with pytest.raises(AgentloopError) as err:
        make_config(**values)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_sizes_default_per_scenario_and_quick_preset():
    assert make_config(scenario="eca").sizes == (32, 64, 96)
    assert make_config(scenario="life").train_size == 8
    q = quick_config("eca", rule=110)
    assert [m.name for m in q.models] == ["whole", "local"] and q.rollouts == (1, 4)
    assert q.sizes == (32, 64, 96) and q.train_size == 32


def test_seed_interval():
    point = seed_interval([1.0, 1.0, 1.0])
    assert (point.low, point.mean, point.high) == (1.0, 1.0, 1.0)
    iv = seed_interval([0.2, 0.4, 0.6])
    assert iv.mean == pytest.approx(0.4) and iv.low < iv.mean < iv.high and 0.0 <= iv.low and iv.high <= 1.0
    assert seed_interval([0.0, 0.02, 0.9]).low == 0.0  # clipped, not negative


# --- CLI ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["learn", "hanoi"], "unknown scenario"),
        (["learn", "eca", "--models", "whole+foo"], "unknown option"),
        (["learn", "eca", "--sizes", "32,,64"], "--sizes"),
        (["learn", "eca", "--seeds", "0"], "--seeds"),
        (["learn", "life", "--sizes", "200"], "out of range"),
    ],
)
def test_cli_bad_input_is_exit_2_and_one_line(args, fragment):
    from agentloop.cli import app

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert fragment in res.stderr and res.stderr.count("\n") == 1 and "Traceback" not in res.output


def test_cli_import_does_not_load_torch():
    code = "import sys, agentloop.cli, agentloop.learn; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- report (no training needed) ---------------------------------------------------------------


def _result():
    from agentloop.learn import EvalCell, LearnResult

    cfg = make_config(scenario="eca", seeds=(0, 1), sizes=(32, 64), rollouts=(1,))
    cells = [
        EvalCell(model=m, size=s, rollout=1, exact=seed_interval(e), cell=seed_interval(c),
                 cell_beyond=None if s == 32 else seed_interval(c), cases=10)
        for m, s, e, c in [("whole", 32, [1.0, 1.0], [1.0, 1.0]), ("whole", 64, [0.0, 0.1], [0.7, 0.8]),
                           ("local", 32, [1.0, 1.0], [1.0, 1.0]), ("local", 64, [1.0, 1.0], [1.0, 1.0])]
    ]
    return LearnResult(config=cfg, results=cells, training=[], provenance={"simulated": False}, wall_s=1.0)


def test_markdown_table_marks_the_trained_size_and_shows_intervals():
    from agentloop.learn import markdown

    md = markdown(_result()).splitlines()
    assert md[2].startswith("| model | size |") and len(md) == 4 + 4
    assert "| whole | 32* | 1 | 100.0% | 100.0% | – |" in md
    whole64 = next(line for line in md if line.startswith("| whole | 64 |"))
    assert "5.0% [" in whole64 and "75.0% [" in whole64


def test_outputs_are_json_png_and_self_contained_html(tmp_path):
    from agentloop.learn import LearnResult, write_outputs

    paths = write_outputs(_result(), tmp_path / "out")
    assert [p.name for p in paths] == ["learn.json", "learn.png", "learn.html"]
    assert LearnResult.model_validate_json(paths[0].read_text()) == _result()
    assert paths[1].read_bytes()[:4] == b"\x89PNG"
    assert "<table>" in paths[2].read_text() and "data:image/png;base64," in paths[2].read_text()


def test_unwritable_output_is_a_user_error(tmp_path):
    from agentloop.learn import write_outputs

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AgentloopError, match="cannot write"):
        write_outputs(_result(), blocker / "sub")
