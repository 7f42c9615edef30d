"""`agentloop export DIR --format FORMAT`: an experiment's stored episodes in another tool's format."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from agentloop.errors import AgentloopError

FORMATS = {"inspect": ("inspect_ai", "inspect")}  # format -> (module it needs, the extra that installs it)


def export_episodes(out_dir: str | Path, *, format: str = "inspect", dest: str | Path | None = None) -> list[Path]:
    """Write the stored episodes of `out_dir` in `format`; returns the files written.

    `inspect`: one inspect_ai log per cell (scenario × params × condition × model), under `dest`
    (default DIR/inspect), readable by `inspect view` and `read_eval_log` (docs/interop.md).
    """
    if format not in FORMATS:
        raise AgentloopError(f"unknown --format {format!r}; formats: {', '.join(FORMATS)}")
    module, extra = FORMATS[format]
    if importlib.util.find_spec(module) is None:
        raise AgentloopError(f"--format {format} needs the [{extra}] extra: pip install 'agentloop[{extra}]'")
    from agentloop.interop.inspect import export_inspect

    return export_inspect(out_dir, dest)
