#!/usr/bin/env python3
"""Mutation testing of agentloop's core with mutmut 3 (see docs/testing.md).

    .venv/bin/python tools/mutation.py [--fresh] [--children N] [--fail-under PCT] [module ...]
    .venv/bin/python tools/mutation.py --summary [module ...]     # the last results, no run
    .venv/bin/python tools/mutation.py --survivors [module ...]   # re-test only the last survivors
    .venv/bin/python tools/mutation.py --pending [module ...]     # only mutants not tested yet
    .venv/bin/python tools/mutation.py --sample 0.25 [module ...] # a random quarter of all (an estimate)

`module` is a module of the core, as in `agentloop.<module>`: loop, loop._worker, tape,
conditions, scenarios, scenarios.eca, metrics, budget, store, models.local (default: the whole
scope configured in `[tool.mutmut]` in pyproject.toml). mutmut copies the project into
`mutants/`, generates every mutant there, maps each test to the functions it runs, then runs
for each mutant only the tests that reach its function. Results are kept in `mutants/`: a
later run tests only mutants without a result (new, or in functions whose code changed);
naming modules re-tests all of theirs, `--survivors` only those that survived (after new tests),
`--pending` only those not tested yet (to resume an interrupted run module by module),
`--sample F --seed S` a uniform random fraction F of each module's mutants, whatever their last
result (the score of the whole scope is then estimated from that draw, with its 95% interval),
`--fresh` starts over.

It prints, per module and overall, killed / (total - equivalent): a mutant listed in
tools/mutation-equivalent.txt behaves exactly like the original (no test can tell them apart)
and is left out of the score; the other survivors are listed (`.venv/bin/mutmut show NAME`
prints one as a diff).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tokenize
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "tools" / "mutation-equivalent.txt"
MUTMUT = "mutmut>=3.3,<4"

# mutmut's exit codes, grouped: a mutant is killed when its tests fail, crash or run out of time.
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -11: "segfault", -9: "segfault", 37: "type check"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}
NOT_RUN = {None: "not checked", 34: "skipped", 2: "interrupted"}


def ensure_mutmut() -> Path:
    """The mutmut command of this interpreter's environment; installed there on first use."""
    exe = Path(sys.executable).with_name("mutmut")
    try:
        import mutmut  # noqa: F401
    except ImportError:
        print(f"installing {MUTMUT} into {sys.prefix} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", MUTMUT], check=True)
    return exe


def generate(mutmut: Path) -> None:
    """Generate the mutants of the code as it is (those of changed functions lose their result)
    and map new tests to the functions they run, testing no mutant: mutmut does both before it
    filters the mutants to test, and a pattern that matches nothing stops it right after (with an
    assertion this function expects)."""
    print("generating mutants and mapping tests to functions (minutes the first time)", flush=True)
    out = subprocess.run([str(mutmut), "run", "agentloop.no-such-mutant"], capture_output=True, text=True)
    if not load_results():
        sys.exit(f"mutmut could not generate the mutants:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")


DIGEST = ROOT / "mutants" / "tests-digest.txt"


def forget_stale_map() -> None:
    """mutmut maps only the tests it has not seen; a test that changed keeps its old map, and a
    mutant would run without the tests that now reach it. So when any file under tests/ changed
    since the map was made (or it is not known when it was), the map is made again (minutes)."""
    stats = ROOT / "mutants" / "mutmut-stats.json"
    if stats.exists() and (not DIGEST.exists() or DIGEST.read_text() != _tests_digest()):
        print("the tests changed since the last run: mapping them to functions again", flush=True)
        stats.unlink()


def _tests_digest() -> str:
    import hashlib

    h = hashlib.sha256()
    for path in sorted((ROOT / "tests").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def module_of(mutant: str) -> str:
    """'agentloop.loop._worker.x_ask_vote__mutmut_3' -> 'loop._worker'."""
    head = re.split(r"\.x_|\.xǁ", mutant, maxsplit=1)[0]
    return head.removeprefix("agentloop.")


def selected(module: str, wanted: list[str]) -> bool:
    return not wanted or any(module == w or module.startswith(w + ".") for w in wanted)


def load_results() -> dict[str, int | None]:
    results: dict[str, int | None] = {}
    for meta in sorted((ROOT / "mutants").glob("agentloop/**/*.py.meta")):
        results.update(json.loads(meta.read_text())["exit_code_by_key"])
    return results


def load_equivalent() -> dict[str, str]:
    """tools/mutation-equivalent.txt: `mutant-name  reason`, one a line; # starts a comment."""
    out: dict[str, str] = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                out[name] = reason.strip()
    return out


SQL_MODULES = {"store"}  # the modules of the core that hold SQL (the rule is applied there only)
SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|WITH|REPLACE|WHERE)\b", re.I)
SQL_CASE_SENSITIVE = re.compile(r"'[^']*'|:\w+|\{[^}]*\}")  # string literals, named parameters, f-string fields
SQL_CASE_REASON = "SQL keywords and identifiers are case-insensitive in SQLite (literals unchanged)"


def _strings(line: str) -> list[str]:
    try:
        return [t.string for t in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline)
                if t.type == tokenize.STRING or t.type == getattr(tokenize, "FSTRING_MIDDLE", -1)]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []


def _unquote(token: str) -> str:
    """The text of a string token without its prefix and its own quotes (a quote inside stays)."""
    token = token.lstrip("rbfuRBFU")
    if token[:1] not in ("'", '"'):  # an f-string's middle part (Python 3.12+) has no quotes
        return token
    quote = token[:3] if token[:3] in ('"""', "'''") else token[:1]
    return token[len(quote):len(token) - len(quote)] if token.endswith(quote) else token[len(quote):]


def sql_case_only(diff: str) -> bool:
    """The mutant only changes the letter case of a SQL statement, outside its string literals,
    named parameters and f-string fields: SQLite reads it exactly as before."""
    lines = diff.splitlines()
    minus = [ln[1:] for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:] for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
    if len(minus) != 1 or len(plus) != 1 or minus[0] == plus[0] or minus[0].lower() != plus[0].lower():
        return False
    before, after = _strings(minus[0]), _strings(plus[0])
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    if len(before) != len(after) or len(changed) != 1:
        return False
    a, b = (_unquote(x) for x in changed[0])
    return bool(SQL_START.match(a)) and SQL_CASE_SENSITIVE.findall(a) == SQL_CASE_SENSITIVE.findall(b)


def auto_equivalent(names: list[str]) -> dict[str, str]:
    """Survivors that a sound rule shows equivalent (for now: SQL letter case, in the SQL modules)."""
    names = [n for n in names if module_of(n) in SQL_MODULES]
    if not names:
        return {}
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant
    except ImportError:
        return {}
    out = {}
    for name in names:
        path = Path(*name.split(".x")[0].split(".")).with_suffix(".py")
        try:
            diff = get_diff_for_mutant(name, path=path)
        except Exception:  # a mutant mutmut cannot show is simply not classified
            continue
        if sql_case_only(diff):
            out[name] = SQL_CASE_REASON
    return out


def summarise(wanted: list[str], fail_under: float | None) -> int:
    results = load_results()
    if not results:
        print("no results in mutants/: run tools/mutation.py first")
        return 1
    equivalent = load_equivalent()
    equivalent.update(auto_equivalent([n for n, code in results.items() if code in SURVIVED and n not in equivalent
                                       and selected(module_of(n), wanted)]))
    rows: dict[str, Counter] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    stale = [m for m in equivalent if m not in results]
    for name, code in results.items():
        mod = module_of(name)
        if not selected(mod, wanted):
            continue
        kind = judge(name, code, equivalent)
        rows[mod][kind] += 1
        if kind in ("survived", "suspicious"):
            survivors[mod].append(f"{name}  ({SURVIVED.get(code, f'exit {code}')})")
    total = Counter()
    print(f"\n{'module':<24}{'mutants':>8}{'killed':>8}{'survived':>9}{'equiv.':>7}{'not run':>8}{'score':>9}")
    for mod in sorted(rows):
        c = rows[mod]
        total.update(c)
        print(_row(mod, c))
    print("-" * 73)
    print(_row("core (all shown)", total))
    for mod in sorted(survivors):
        print(f"\nsurvivors in {mod}:")
        for s in sorted(survivors[mod], key=_natural):
            print(f"  {s}")
    if stale:
        print(f"\n{len(stale)} mutant(s) in {EQUIVALENT.name} no longer exist (the code changed): {', '.join(stale[:5])}")
    score = _score(total)
    estimate = _print_sample_estimate(results, equivalent, rows, wanted)
    if estimate is not None:
        score = estimate
    if fail_under is not None and (score is None or score < fail_under):
        print(f"\nmutation score {_pct(score)} is under {fail_under:.0f}%")
        return 2
    return 0


def judge(name: str, code: int | None, equivalent: dict[str, str]) -> str:
    if name in equivalent:
        return "equivalent"
    if code in NOT_RUN:
        return "not run"
    if code in KILLED:
        return "killed"
    return "survived" if code in SURVIVED else "suspicious"


def sample_per_module(names: list[str], fraction: float, seed: int) -> list[str]:
    """A uniform random `fraction` of each module's names (at least one), reproducible by seed."""
    import math
    import random

    by_module: dict[str, list[str]] = defaultdict(list)
    for n in names:
        by_module[module_of(n)].append(n)
    out = []
    for mod, ns in sorted(by_module.items()):
        k = min(len(ns), max(1, math.ceil(fraction * len(ns))))
        out += random.Random(f"{seed}:{mod}").sample(sorted(ns), k)
    return sorted(out)


SAMPLE = ROOT / "mutants" / "mutation-sample.json"


def record_sample(sample: list[str], fraction: float, seed: int) -> None:
    """Keep, in mutants/, the last --sample draw: the summary estimates the score from it."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    SAMPLE.write_text(json.dumps({"fraction": fraction, "seed": seed, "commit": commit, "sample": sample,
                                  "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))


def sample_estimate(sample: set[str], results: dict[str, int | None], equivalent: dict[str, str],
                    sizes: dict[str, int]) -> dict[str, Counter]:
    """Per module: the judged mutants of the sample, and the module's other non-equivalent
    mutants as "not run" -- the rows `stratified` weights by module size."""
    rows: dict[str, Counter] = defaultdict(Counter)
    for name in sample & results.keys():
        kind = judge(name, results[name], equivalent)
        if kind != "equivalent":
            rows[module_of(name)][kind] += 1
    for mod, size in sizes.items():
        rows[mod]["not run"] += size - sum(rows[mod].values())
    return rows


def _print_sample_estimate(results, equivalent, rows, wanted) -> float | None:
    """The score of the whole scope estimated from the last --sample draw (None without one)."""
    if not SAMPLE.exists():
        if any(c["not run"] for c in rows.values()):
            print("\nnot every mutant has a result and no --sample was drawn: the score above is of the tested part only")
        return None
    draw = json.loads(SAMPLE.read_text())
    sample = {n for n in draw["sample"] if selected(module_of(n), wanted)}
    sizes = {mod: sum(c.values()) - c["equivalent"] for mod, c in rows.items()}
    est_rows = sample_estimate(sample, results, equivalent, sizes)
    est = stratified(est_rows)
    judged = sum(c["killed"] + c["survived"] + c["suspicious"] for c in est_rows.values())
    killed = sum(c["killed"] for c in est_rows.values())
    print(f"\nestimated from the last sample (--sample {draw['fraction']} --seed {draw['seed']} at {draw['commit']}, "
          f"{draw['at']}): {killed} of {judged} sampled non-equivalent mutants killed")
    print(f"  {'module':<24}{'mutants':>8}{'sampled':>8}{'killed':>8}{'score':>9}")
    for mod in sorted(est_rows):
        c = est_rows[mod]
        print(f"  {mod:<24}{sizes[mod]:>8}{c['killed'] + c['survived'] + c['suspicious']:>8}{c['killed']:>8}"
              f"{_pct(_score(c)):>9}")
    if est is None:
        return None
    score, lo, hi, covered, missing = est
    print(f"  core: {score:.1f}% (95% CI {lo:.1f}-{hi:.1f}%) of {covered} non-equivalent mutants, modules weighted by size")
    if missing:
        print(f"  no sampled mutant judged in: {', '.join(sorted(missing))}")
    lost = [n for n in sample if judge(n, results.get(n), equivalent) == "not run"]
    if lost:
        print(f"  {len(lost)} sampled mutant(s) have no result (an interrupted run): the estimate leaves them out")
    return score


def stratified(rows: dict[str, Counter]) -> tuple[float, float, float, int, list[str]] | None:
    """The score of the whole scope when some modules were only sampled: each module's share of
    killed mutants among those judged, weighted by the module's number of mutants that are not
    known equivalent (a stratified estimate), with a normal 95% interval whose per-module
    variance has the finite-population correction (0 for a module run to the end) and an
    Agresti-Coull share (so a sample with no survivors still has a variance).

    None when every module was run to the end (the pooled score is then exact) or none was run.
    Returns (score, low, high, mutants covered, modules with no result)."""
    parts, missing = [], []
    for mod, c in sorted(rows.items()):
        judged = c["killed"] + c["survived"] + c["suspicious"]
        size = sum(c.values()) - c["equivalent"]
        if judged == 0:
            if size:
                missing.append(mod)
            continue
        parts.append((size, judged, c["killed"]))
    if not parts or all(judged == size for size, judged, _ in parts):
        return None
    total = sum(size for size, _, _ in parts)
    score = var = 0.0
    for size, judged, killed in parts:
        w = size / total
        score += w * killed / judged
        p = (killed + 2) / (judged + 4)
        var += w * w * p * (1 - p) / judged * (1 - judged / size)
    half = 1.959964 * var ** 0.5
    return 100 * score, 100 * max(0.0, score - half), 100 * min(1.0, score + half), total, missing


def _score(c: Counter) -> float | None:
    judged = c["killed"] + c["survived"] + c["suspicious"]
    return 100.0 * c["killed"] / judged if judged else None


def _pct(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.1f}%"


def _row(name: str, c: Counter) -> str:
    return (f"{name:<24}{sum(c.values()):>8}{c['killed']:>8}{c['survived'] + c['suspicious']:>9}{c['equivalent']:>7}"
            f"{c['not run']:>8}{_pct(_score(c)):>9}")


def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help="modules of the core, as in agentloop.<module> (default: all)")
    ap.add_argument("--children", type=int, default=int(os.environ.get("MUTATION_CHILDREN", "1")),
                    help="mutants tested at once (default 1, or $MUTATION_CHILDREN)")
    ap.add_argument("--fresh", action="store_true", help="discard mutants/ and its results first")
    ap.add_argument("--summary", action="store_true", help="only print the last results")
    ap.add_argument("--survivors", action="store_true", help="re-test only the mutants that survived last time")
    ap.add_argument("--pending", action="store_true", help="test only the mutants without a result yet")
    ap.add_argument("--sample", type=float, default=None,
                    help="test a uniform random fraction (0-1) of each module's mutants; the summary estimates the score from it")
    ap.add_argument("--seed", type=int, default=0, help="seed of --sample")
    ap.add_argument("--fail-under", type=float, default=None, help="exit 2 when the overall score is below this")
    a = ap.parse_args()
    wanted = [m.removeprefix("agentloop.").removesuffix(".py").replace("/", ".") for m in a.modules]
    os.chdir(ROOT)
    if not a.summary:
        mutmut = ensure_mutmut()
        if a.fresh:
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        forget_stale_map()
        globs = [f"agentloop.{m}.*" for m in wanted]
        if a.survivors or a.pending or a.sample is not None:
            generate(mutmut)  # the mutants of the code as it is now, before choosing by result
            DIGEST.write_text(_tests_digest())
            equivalent = load_equivalent()
            todo = set(SURVIVED) if a.survivors else {None}
            globs = sorted(n for n, code in load_results().items() if n not in equivalent
                           and selected(module_of(n), wanted) and (a.sample is not None or code in todo))
            if a.sample is not None:
                globs = sample_per_module(globs, a.sample, a.seed)
                record_sample(globs, a.sample, a.seed)
            if not globs:
                print("nothing to test")
                return summarise(wanted, a.fail_under)
        started = time.monotonic()
        rc = subprocess.run([str(mutmut), "run", "--max-children", str(a.children), *globs]).returncode
        if (ROOT / "mutants" / "mutmut-stats.json").exists():
            DIGEST.write_text(_tests_digest())
        elapsed = time.monotonic() - started
        print(f"\nmutmut run took {elapsed / 60:.1f} min (exit {rc}) with {a.children} child process(es)")
        if rc != 0:
            return rc
    return summarise(wanted, a.fail_under)


if __name__ == "__main__":
    sys.exit(main())
