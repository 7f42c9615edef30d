"""Train the kinds of model and evaluate them by rolling out generations.

The whole-state model rolls out by feeding its own predicted row (board) back in; the decoder
too, after writing each generation cell by cell from its own cells. The local
model never holds a row: a library `Tape` per test case holds the committed state, renders each
cell's neighbourhood, and the model's answer for that cell is committed back, cell by cell and
generation by generation, exactly as an LLM worker's would be (no checker, no correction).
Imports torch: load only when training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from agentloop.learn._config import LearnConfig, ModelSpec
from agentloop.learn._data import World, flatten, test_seed, train_seed
from agentloop.learn._nets import CellDecoder, CellTransformer
from agentloop.scenarios._base import parse_bit_rows
from agentloop.tape import Tape

Progress = Callable[[str], None]


def build(spec: ModelSpec, cfg: LearnConfig) -> CellTransformer | CellDecoder:
    """The network for `spec`, sized for the largest evaluated input."""
    two_d = cfg.scenario == "life"
    side = max(cfg.train_size, *cfg.sizes)
    if spec.kind == "decoder":
        return CellDecoder(d_model=cfg.d_model, heads=cfg.heads, layers=cfg.layers,
                           max_cells=side * side if two_d else side)
    common = dict(two_d=two_d, d_model=cfg.d_model, heads=cfg.heads, layers=cfg.layers, wrap=not two_d)
    if spec.kind == "local":
        return CellTransformer(**common, positions="learned", max_cells=9, max_side=3)
    return CellTransformer(
        **common,
        positions=spec.positions,
        conv="conv" in spec.options,
        gru="gru" in spec.options,
        tokens="tokens" in spec.options,
        max_cells=side * side if two_d else side,
        max_side=side,
    )


def _tensor(states: Sequence, two_d: bool) -> torch.Tensor:
    return torch.tensor([list(map(list, s)) if two_d else list(s) for s in states], dtype=torch.long)


def _centre_logits(net: CellTransformer, windows: Sequence[Sequence[int]], two_d: bool) -> torch.Tensor:
    """The local model's logit for each flattened neighbourhood's centre cell.

    Only the centre's next value is determined by a neighbourhood, so only that output is
    trained and used.
    """
    x = torch.tensor(windows, dtype=torch.long).reshape((len(windows), 3, 3) if two_d else (len(windows), 3))
    logits = net(x)
    return logits[:, 1, 1] if two_d else logits[:, 1]


def train(
    net: CellTransformer, spec: ModelSpec, world: World, cfg: LearnConfig, seed: int
) -> tuple[int, float]:
    """Train in place on fresh simulator data every step; returns (steps, mean loss of the last 50)."""
    two_d = cfg.scenario == "life"
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.0)
    loss_fn = nn.BCEWithLogitsLoss()
    steps = cfg.local_steps if spec.kind == "local" else cfg.whole_steps
    # Cosine decay to zero: the last steps polish the solution instead of bouncing around it.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    recent: list[float] = []
    net.train()
    for step in range(steps):
        seeds = [train_seed(seed, step * cfg.batch + i) for i in range(cfg.batch)]
        if spec.kind == "local":
            pairs = [world.sample_window(s) for s in seeds]
            y = torch.tensor([c for _, c in pairs], dtype=torch.float32)
            logits = _centre_logits(net, [w for w, _ in pairs], two_d)
        elif spec.kind == "decoder":  # teacher forcing: every next cell from the true ones before it
            states = [world.sample(cfg.train_size, s) for s in seeds]
            x = _tensor([flatten(s) for s in states], False)
            target = _tensor([flatten(world.step(s)) for s in states], False)
            y = target.float()
            logits = net.teacher_forced(x, target)
        else:
            states = [world.sample(cfg.train_size, s) for s in seeds]
            x = _tensor(states, two_d)
            y = _tensor([world.step(s) for s in states], two_d).float()
            logits = net(x)
        loss = loss_fn(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        recent = (recent + [loss.item()])[-50:]
    net.eval()
    return steps, sum(recent) / len(recent)


@torch.no_grad()
def pattern_accuracy(net: CellTransformer, world: World) -> float:
    """Share of all neighbourhood patterns (8 or 512) whose centre the local model gets right."""
    pats = world.patterns()
    pred = _centre_logits(net, [w for w, _ in pats], world.scenario == "life") > 0
    return sum(int(p) == c for p, c in zip(pred.tolist(), (c for _, c in pats))) / len(pats)


Score = tuple[float, float, float | None]


def _beyond(size: int, train_size: int, two_d: bool) -> list[int]:
    """Flat indices of the cells at positions the training never had (None of them at or below it)."""
    if two_d:
        return [r * size + c for r in range(size) for c in range(size) if r >= train_size or c >= train_size]
    return list(range(train_size, size))


def _score(got: Sequence[Sequence[int]], want: Sequence[Sequence[int]], beyond: list[int]) -> Score:
    """(exact share, cell share, cell share at the positions beyond the trained size or None)."""
    exact = sum(g == w for g, w in zip(got, want)) / len(want)
    cells = sum(a == b for g, w in zip(got, want) for a, b in zip(g, w)) / sum(len(w) for w in want)
    if not beyond:
        return exact, cells, None
    # Where the errors sit tells a failure to generalise from a failure to learn at all.
    far = sum(g[i] == w[i] for g, w in zip(got, want) for i in beyond) / (len(want) * len(beyond))
    return exact, cells, far


@torch.no_grad()
def evaluate(
    net: CellTransformer, spec: ModelSpec, world: World, cfg: LearnConfig, size: int, seed: int
) -> dict[int, Score]:
    """Rollout length → (exact-row share, cell share, cell share beyond the trained size) on fresh cases."""
    gens = max(cfg.rollouts)
    insts = [world.instance(size, gens, test_seed(seed, size, i)) for i in range(cfg.eval_cases)]
    truth = [[flatten(s) for s in world.rollout(inst.initial, gens)] for inst in insts]
    run = {"local": _rollout_local, "decoder": _rollout_decoder}.get(spec.kind, _rollout_whole)
    predicted = run(net, world, insts, gens)
    beyond = _beyond(size, cfg.train_size, world.scenario == "life")
    return {
        g: _score([p[g - 1] for p in predicted], [t[g - 1] for t in truth], beyond) for g in sorted(set(cfg.rollouts))
    }


def _rollout_whole(net: CellTransformer, world: World, insts: Sequence, gens: int) -> list[list[list[int]]]:
    two_d = world.scenario == "life"
    x = _tensor([inst.initial for inst in insts], two_d)
    out: list[list[list[int]]] = [[] for _ in insts]
    for _ in range(gens):
        x = (net(x) > 0).long()
        for i, row in enumerate(x.reshape(len(insts), -1).tolist()):
            out[i].append(row)
    return out


def _rollout_decoder(net: CellDecoder, world: World, insts: Sequence, gens: int) -> list[list[list[int]]]:
    x = _tensor([flatten(inst.initial) for inst in insts], False)
    out: list[list[list[int]]] = [[] for _ in insts]
    for _ in range(gens):
        x = net.generate(x)
        for i, row in enumerate(x.tolist()):
            out[i].append(row)
    return out


def _rollout_local(net: CellTransformer, world: World, insts: Sequence, gens: int) -> list[list[list[int]]]:
    # All test cases advance in lockstep, one cell at a time, so each cell is one batched call.
    sim = world.simulator()
    tapes = [Tape(sim, inst) for inst in insts]
    steps = sim.steps(insts[0])  # the same plan for every case of this size
    cells = len(steps) // gens
    two_d = world.scenario == "life"
    out: list[list[list[int]]] = [[] for _ in insts]
    for k, step in enumerate(steps):
        # The tape renders what a worker would see; the model reads that, nothing more.
        windows = [flatten(parse_bit_rows(t.render(step), 3)) for t in tapes]
        answers = (_centre_logits(net, windows, two_d) > 0).long().tolist()
        for tape, inst, a in zip(tapes, insts, answers):
            verdict = sim.check(inst, tape.state, step, a)
            tape.commit(step, a, verdict.code)
        if (k + 1) % cells == 0:
            for i, (tape, inst) in enumerate(zip(tapes, insts)):
                out[i].append(flatten(sim.result_json(inst, tape.state, tape.answers)))
    return out


def train_and_evaluate(
    spec: ModelSpec, world: World, cfg: LearnConfig, seed: int, progress: Progress | None = None
) -> tuple[dict, dict[int, dict[int, Score]]]:
    """One model, one seed: its training record fields and {size: {rollout: Score}}."""
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    net = build(spec, cfg)
    steps, loss = train(net, spec, world, cfg, seed)
    record = {
        "model": spec.name,
        "seed": seed,
        "steps": steps,
        "final_loss": loss,
        "parameters": sum(p.numel() for p in net.parameters()),
        "pattern_accuracy": pattern_accuracy(net, world) if spec.kind == "local" else None,
        "wall_s": 0.0,
    }
    if progress:
        progress(f"{spec.name} seed {seed}: trained {steps} steps, loss {loss:.4f}")
    scores = {size: evaluate(net, spec, world, cfg, size, seed) for size in cfg.sizes}
    record["wall_s"] = time.perf_counter() - t0
    return record, scores
