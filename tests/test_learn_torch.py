"""agentloop learn with torch: the tape rollout, the networks, tiny studies, the CLI end to end."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentloop.learn import World, make_config, parse_model

from conftest import import_extra  # noqa: E402

torch = import_extra("torch", extra="learn")  # skipped locally without torch, a collection error under CI=true

# --- networks and the tape rollout (torch) ---------------------------------------------------



class _RuleNet(torch.nn.Module):
    """A perfect local 'model' (the rule as a lookup): isolates the tape plumbing from training."""

    def __init__(self, world: World):
        super().__init__()
        self.world = world

    def forward(self, x):
        flat = x.reshape(x.shape[0], -1).tolist()
        centre = torch.tensor([2.0 * self.world.centre(w) - 1.0 for w in flat])
        out = torch.zeros(x.shape)
        if x.dim() == 3:
            out[:, 1, 1] = centre
        else:
            out[:, 1] = centre
        return out


@pytest.mark.parametrize("scenario, size", [("eca", 7), ("eca", 40), ("life", 5)])
def test_tape_rollout_with_a_perfect_local_rule_matches_the_simulator(scenario, size):
    from agentloop.learn._config import ModelSpec
    from agentloop.learn._train import evaluate

    world = World(scenario, 30)
    cfg = make_config(scenario=scenario, rule=30, sizes=(size,), train_size=size, rollouts=(1, 3), eval_cases=6)
    scores = evaluate(_RuleNet(world), ModelSpec(kind="local"), world, cfg, size, seed=0)
    assert scores == {1: (1.0, 1.0, None), 3: (1.0, 1.0, None)}


@pytest.mark.parametrize(
    "scenario, name",
    [("eca", "whole+sinusoidal+conv+tokens"), ("life", "whole+xy+conv+tokens"), ("life", "whole"),
     ("eca", "whole+gru"), ("life", "whole+conv+gru")],
)
def test_whole_state_variants_run_at_sizes_other_than_trained(scenario, name):
    from agentloop.learn._train import build

    torch.manual_seed(0)
    cfg = make_config(scenario=scenario, models=[name], d_model=8, heads=2, layers=1,
                      train_size=4, sizes=(4, 9))
    net = build(parse_model(name), cfg)
    for size in (4, 9):
        x = torch.randint(0, 2, (3, size, size) if scenario == "life" else (3, size))
        assert net(x).shape == x.shape


@pytest.mark.parametrize("scenario", ["eca", "life"])
def test_the_decoder_writes_a_next_state_of_any_trained_or_wider_size(scenario):
    from agentloop.learn._train import _rollout_decoder, build

    torch.manual_seed(0)
    cfg = make_config(scenario=scenario, models=["decoder"], d_model=8, heads=2, layers=2, train_size=4, sizes=(4, 6))
    net = build(parse_model("decoder"), cfg)
    world = World(scenario)
    insts = [world.instance(6, 2, seed) for seed in range(3)]
    out = _rollout_decoder(net, world, insts, 2)
    assert [len(o) for o in out] == [2, 2, 2] and all(len(row) == (36 if scenario == "life" else 6) for o in out for row in o)
    assert all(set(row) <= {0, 1} for o in out for row in o)


def test_the_decoder_s_cached_generation_is_its_teacher_forced_prediction():
    """Generating cell by cell with the key/value cache gives what one causal pass over the
    generated sequence predicts: the cache changes the cost, not the model."""
    from agentloop.learn._nets import CellDecoder

    torch.manual_seed(1)
    net = CellDecoder(d_model=16, heads=4, layers=2, max_cells=24)
    x = torch.randint(0, 2, (9, 12))
    written = net.generate(x)
    with torch.no_grad():
        logits = net.teacher_forced(x, written)
    assert written.shape == x.shape and torch.equal((logits > 0).long(), written)


def test_the_decoder_is_trained_on_the_true_next_cells():
    """Teacher forcing on the simulator's next rows teaches the decoder what they are."""
    from agentloop.learn._train import build, train

    cfg = _tiny(models=["decoder"], whole_steps=40, sizes=(8,), rule=0)  # rule 0: every next cell is 0
    torch.manual_seed(0)
    net = build(parse_model("decoder"), cfg)
    steps, loss = train(net, parse_model("decoder"), World("eca", 0), cfg, seed=0)
    assert steps == 40 and loss < 0.5  # well below chance (ln 2 ≈ 0.69) after 40 steps
    with torch.no_grad():
        assert net.generate(torch.randint(0, 2, (5, 8))).sum() == 0  # and it writes the zeros


def test_beyond_positions():
    from agentloop.learn._train import _beyond

    assert _beyond(8, 5, two_d=False) == [5, 6, 7]
    assert len(_beyond(5, 3, two_d=True)) == 25 - 9 and 12 not in _beyond(5, 3, two_d=True)  # (2, 2) was trained
    assert _beyond(4, 4, two_d=True) == []


def _tiny(**over):
    values = dict(scenario="eca", rule=90, models=["local"], seeds=(0,), local_steps=300, whole_steps=5,
                  d_model=16, heads=2, layers=1, train_size=8, sizes=(5, 17, 64), rollouts=(1, 4), eval_cases=8)
    values.update(over)
    return make_config(**values)


@pytest.mark.slow  # a few seconds of training
def test_local_model_learns_rule_90_and_is_exact_at_every_width():
    from agentloop.learn import run_study

    result = run_study(_tiny())
    assert result.training[0].pattern_accuracy == 1.0
    assert {(r.size, r.rollout) for r in result.results} == {(s, g) for s in (5, 17, 64) for g in (1, 4)}
    assert all(r.exact.mean == 1.0 and r.cell.mean == 1.0 for r in result.results)
    # cells beyond the trained width (8) exist only at the wider sizes
    assert {r.size for r in result.results if r.cell_beyond is not None} == {17, 64}
    assert result.provenance["simulated"] is False and result.config.rule == 90


def test_training_is_deterministic_for_a_seed():
    from agentloop.learn import run_study

    cfg = _tiny(models=["whole"], whole_steps=20, sizes=(8,), rollouts=(1,))
    a, b = run_study(cfg), run_study(cfg)
    assert a.training[0].final_loss == b.training[0].final_loss
    assert a.results[0].cell.mean == b.results[0].cell.mean
    # provenance: the experiments' record (git, versions) plus torch's version
    import torch

    assert a.provenance["torch_version"] == torch.__version__ and {"git_commit", "git_dirty"} <= a.provenance.keys()


# --- CLI -----------------------------------------------------------------------------------------

_TINY_ARGS = ["--rule", "90", "--models", "local,whole", "--train-size", "6", "--sizes", "6,9",
              "--rollouts", "1,2", "--seeds", "2", "--whole-steps", "3", "--local-steps", "3",
              "--eval-cases", "3", "--d-model", "8", "--layers", "1"]


@pytest.mark.slow  # a few seconds of training
def test_cli_json_has_every_model_size_and_rollout_with_an_interval(tmp_path):
    from agentloop.cli import app

    res = CliRunner().invoke(app, ["learn", "eca", *_TINY_ARGS, "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    keys = {(r["model"], r["size"], r["rollout"]) for r in data["results"]}
    assert keys == {(m, s, g) for m in ("local", "whole") for s in (6, 9) for g in (1, 2)}
    for r in data["results"]:
        assert r["exact"]["low"] <= r["exact"]["mean"] <= r["exact"]["high"] and len(r["exact"]["per_seed"]) == 2
    assert data["config"]["seeds"] == [0, 1] and data["config"]["whole_steps"] == 3
    assert (tmp_path / "learn.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "learn.json").read_text())["config"]["rule"] == 90
    assert "data:image/png;base64," in (tmp_path / "learn.html").read_text()


def test_cli_table():
    from agentloop.cli import app

    res = CliRunner().invoke(app, ["learn", "life", "--models", "local", "--train-size", "3", "--sizes", "3,4",
                                   "--rollouts", "1", "--seeds", "1", "--local-steps", "2", "--eval-cases", "2",
                                   "--d-model", "8", "--layers", "1"])
    assert res.exit_code == 0, res.output
    assert "exact-board" in res.stdout and "3x3*" in res.stdout and "4x4" in res.stdout


