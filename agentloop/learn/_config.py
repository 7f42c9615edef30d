"""What a learning study is (its config) and what it produced (its results): typed, no torch.

One parameters object describes the whole study and is saved beside its results, so a number
in a report can always be traced to the exact training set-up and seeds that made it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentloop.errors import AgentloopError

ScenarioName = Literal["eca", "life"]

# Options of the whole-state model, in the order a canonical name lists them. Each is one of
# the fixes the seed tried against the failure to generalise beyond the trained width.
WHOLE_OPTIONS: dict[str, str] = {
    "sinusoidal": "fixed sinusoidal positions instead of learned ones",
    "xy": "learned row and column embeddings instead of one flat position (life only)",
    "conv": "a convolution front layer over the cells (wrap-around for eca, dead edge for life)",
    "tokens": "start and stop tokens around the row or board",
    "gru": "a bidirectional GRU layer over the cells in front of the encoder (the seed's recurrent layer)",
}
MODEL_KINDS = {
    "whole": "whole-state transformer: the whole row (board) in, the next one out",
    "local": "local transformer on one neighbourhood, applied cell by cell over a tape",
    "decoder": "autoregressive decoder: the row (board) in, the next one written cell by cell",
}


class ModelSpec(BaseModel):
    """A model variant: `local`, or `whole` with options joined by `+` (e.g. `whole+conv`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["whole", "local", "decoder"]
    options: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "+".join((self.kind, *self.options))

    @property
    def positions(self) -> Literal["learned", "sinusoidal", "xy"]:
        for p in ("sinusoidal", "xy"):
            if p in self.options:
                return p  # type: ignore[return-value]
        return "learned"


def parse_model(text: str) -> ModelSpec:
    """`whole+sinusoidal+conv` → ModelSpec; AgentloopError naming the allowed values otherwise."""
    allowed = f"local, decoder, or whole with any of +{', +'.join(WHOLE_OPTIONS)} (e.g. whole+conv)"
    parts = [p.strip().lower() for p in text.strip().split("+")]
    kind, opts = parts[0], parts[1:]
    if kind not in MODEL_KINDS or any(not o for o in opts):
        raise AgentloopError(f"unknown model {text!r}; models: {allowed}")
    if kind != "whole" and opts:
        raise AgentloopError(f"model {text!r}: the {kind} model takes no options; models: {allowed}")
    unknown = [o for o in opts if o not in WHOLE_OPTIONS]
    if unknown:
        raise AgentloopError(f"model {text!r}: unknown option {unknown[0]!r}; models: {allowed}")
    if len(set(opts)) != len(opts):
        raise AgentloopError(f"model {text!r}: an option is given twice")
    if "sinusoidal" in opts and "xy" in opts:
        raise AgentloopError(f"model {text!r}: choose one of +sinusoidal and +xy (both set the positions)")
    return ModelSpec(kind=kind, options=tuple(o for o in WHOLE_OPTIONS if o in opts))  # type: ignore[arg-type]


_DEFAULT_SIZES = {"eca": (32, [32, 64, 96]), "life": (8, [8, 16])}
# The simulators' own parameter bounds (EcaParams.width, LifeParams.rows/cols).
_SIZE_BOUNDS = {"eca": (3, 1024), "life": (3, 64)}


class LearnConfig(BaseModel):
    """Everything that determines a study's numbers. Sizes are row widths (eca) or board sides (life)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: ScenarioName = "eca"
    rule: int = Field(default=110, ge=0, le=255, description="Wolfram rule (eca only)")
    density: float = Field(default=0.35, gt=0, lt=1, description="live-cell share of life boards")
    models: tuple[ModelSpec, ...] = (ModelSpec(kind="whole"), ModelSpec(kind="local"))
    train_size: int = Field(default=0, description="trained width (eca) or board side (life); 0: 32 / 8")
    sizes: tuple[int, ...] = Field(default=(), description="evaluated widths or sides; empty: defaults")
    rollouts: tuple[int, ...] = Field(default=(1, 4, 16), description="generations rolled out")
    seeds: tuple[int, ...] = Field(default=(0, 1, 2), min_length=1, max_length=20)
    whole_steps: int = Field(
        default=1500, ge=1, le=200_000, description="optimiser steps, whole-state models (the decoder too)"
    )
    local_steps: int = Field(default=600, ge=1, le=200_000, description="optimiser steps, local model")
    batch: int = Field(default=64, ge=1, le=4096)
    lr: float = Field(default=2e-3, gt=0, le=1)
    d_model: int = Field(default=64, ge=4, le=1024)
    heads: int = Field(default=4, ge=1, le=64)
    layers: int = Field(default=2, ge=1, le=24)
    eval_cases: int = Field(default=200, ge=1, le=100_000, description="test rows (boards) per size and seed")
    # One thread by default: these tensors are tiny, so extra threads mostly synchronise, and on a
    # shared 2-core machine a training step measured 36 ms with one thread against 95 ms with two.
    threads: int = Field(default=1, ge=1, le=256, description="torch CPU threads")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            # Sizes default per scenario (0 / empty mean "the default"): a row of 32 cells, a board of 8×8.
            defaults = _DEFAULT_SIZES.get(data.get("scenario", "eca"))
            if defaults:
                if not data.get("train_size"):
                    data["train_size"] = defaults[0]
                if not data.get("sizes"):
                    data["sizes"] = defaults[1]
            if isinstance(data.get("models"), (list, tuple)):
                data["models"] = [parse_model(m) if isinstance(m, str) else m for m in data["models"]]
        return data

    @model_validator(mode="after")
    def _check(self) -> LearnConfig:
        lo, hi = _SIZE_BOUNDS[self.scenario]
        for s in (self.train_size, *self.sizes):
            if not lo <= s <= hi:
                raise ValueError(f"size {s} out of range {lo}..{hi} for {self.scenario}")
        if not self.models:
            raise ValueError("no models given")
        if not self.rollouts or any(not 1 <= r <= 256 for r in self.rollouts):
            raise ValueError("rollouts must be 1..256 generations")
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of heads {self.heads}")
        for m in self.models:
            if "xy" in m.options and self.scenario != "life":
                raise ValueError(f"model {m.name}: +xy needs a 2-d board (life)")
        if len({m.name for m in self.models}) != len(self.models):
            raise ValueError("a model is given twice")
        return self


def make_config(**values: Any) -> LearnConfig:
    """Validate user values into a LearnConfig; one-line AgentloopError on bad input."""
    try:
        return LearnConfig.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown setting {where!r}; settings: {', '.join(LearnConfig.model_fields)}"
        elif where:
            msg = f"{where}={err.get('input')!r}: {msg.lower()}"
        raise AgentloopError(f"learn: {msg}") from None


def quick_config(scenario: ScenarioName = "eca", **overrides: Any) -> LearnConfig:
    """The `--quick` study: both basic models, one step and 4-generation rollouts, a few minutes on 2 cores."""
    values: dict[str, Any] = {
        "scenario": scenario,
        "models": ["whole", "local"],
        "rollouts": (1, 4),
        "whole_steps": 1000,
        "local_steps": 300,
        "eval_cases": 200,
    }
    values.update(overrides)
    return make_config(**values)


# --- results ---------------------------------------------------------------------------------
class Interval(BaseModel):
    """A mean over training seeds with its 95% interval (Student t over the per-seed values)."""

    mean: float
    low: float
    high: float
    per_seed: list[float]


class EvalCell(BaseModel):
    """One model at one size and rollout length."""

    model: str
    size: int
    rollout: int
    exact: Interval = Field(description="share of rows (boards) exactly right after `rollout` generations")
    cell: Interval = Field(description="share of cells right after `rollout` generations")
    cell_beyond: Interval | None = Field(
        default=None, description="share of cells right at positions beyond the trained size (None at or below it)"
    )
    cases: int = Field(description="test rows (boards) per seed")


class TrainRecord(BaseModel):
    """How one model trained with one seed."""

    model: str
    seed: int
    steps: int
    final_loss: float
    parameters: int
    pattern_accuracy: float | None = Field(
        default=None, description="local model: share of all neighbourhood patterns it gets right"
    )
    wall_s: float


class LearnResult(BaseModel):
    """A study's config, its training records and its evaluation table, with provenance."""

    config: LearnConfig
    results: list[EvalCell]
    training: list[TrainRecord]
    provenance: dict[str, Any]
    wall_s: float
