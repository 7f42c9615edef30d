"""Run a whole study: every model × seed trained and evaluated, then summarised over seeds."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence

from agentloop.errors import AgentloopError
from agentloop.learn._config import EvalCell, Interval, LearnConfig, LearnResult, TrainRecord
from agentloop.learn._data import World

Progress = Callable[[str], None]


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean over seeds with a Student-t interval, clipped to [0, 1].

    The seeds are the replicates here (each retrains the model), so the interval speaks to how
    much the outcome depends on training luck. With one seed, or identical values, it is a point.
    """
    vals = [float(v) for v in values]
    mean = sum(vals) / len(vals)
    if len(vals) < 2 or max(vals) == min(vals):
        return Interval(mean=mean, low=mean, high=mean, per_seed=vals)
    from scipy import stats

    sem = stats.sem(vals)
    low, high = stats.t.interval(confidence, len(vals) - 1, loc=mean, scale=sem)
    return Interval(mean=mean, low=max(0.0, float(low)), high=min(1.0, float(high)), per_seed=vals)


def run_study(cfg: LearnConfig, progress: Progress | None = None) -> LearnResult:
    """Train and evaluate every model with every seed; the typed result, config and provenance included."""
    try:
        import torch
    except ModuleNotFoundError:
        raise AgentloopError(
            "agentloop learn needs torch: pip install torch==2.13.0 (a CPU build), or pip install 'agentloop[learn]'"
        ) from None

    from agentloop.learn._train import train_and_evaluate

    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    world = World(cfg.scenario, cfg.rule, cfg.density)
    training: list[TrainRecord] = []
    scores: dict[tuple[str, int, int], list[tuple[float, float, float | None]]] = {}
    for spec in cfg.models:
        for seed in cfg.seeds:
            record, by_size = train_and_evaluate(spec, world, cfg, seed, progress)
            training.append(TrainRecord(**record))
            for size, by_rollout in by_size.items():
                for rollout, pair in by_rollout.items():
                    scores.setdefault((spec.name, size, rollout), []).append(pair)
    results = [
        EvalCell(
            model=model,
            size=size,
            rollout=rollout,
            exact=seed_interval([p[0] for p in pairs]),
            cell=seed_interval([p[1] for p in pairs]),
            cell_beyond=None if pairs[0][2] is None else seed_interval([p[2] for p in pairs]),
            cases=cfg.eval_cases,
        )
        for (model, size, rollout), pairs in scores.items()
    ]
    return LearnResult(
        config=cfg,
        results=results,
        training=training,
        provenance=_provenance(torch.__version__),
        wall_s=time.perf_counter() - t0,
    )


def _provenance(torch_version: str) -> dict[str, object]:
    """The experiments' provenance (versions, git commit and dirty flag, Python), plus torch's."""
    from agentloop.experiment import provenance

    return {
        **provenance(),
        "torch_version": torch_version,
        "machine": platform.machine(),
        "simulated": False,  # trained networks, not scripted models
    }

