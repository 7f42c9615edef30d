"""Every bad input is one `error:` line on stderr and exit code 2: never a traceback, never a
framed usage box, never a silent success. One table, every command."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentloop.cli import app

runner = CliRunner()

GOOD = """
name = "good"
seeds = 1
conditions = ["tape"]

[[scenarios]]
name = "eca"
params = { width = 4, steps = 1 }

[[models]]
name = "scripted/oracle"
"""


@pytest.fixture(scope="module")
def f(tmp_path_factory) -> dict[str, str]:
    """The files and directories the table points at, made once."""
    d = tmp_path_factory.mktemp("bad")
    out: dict[str, str] = {"dir": str(d)}

    def write(name: str, text: str | bytes) -> str:
        p = d / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        out[p.stem] = str(p)  # `{good}` names good.toml in the table
        return str(p)

    write("good.toml", GOOD)
    write("other.toml", GOOD.replace('name = "good"', 'name = "other"'))
    write("latin1.toml", GOOD.replace("tape", "tape  # café").encode("latin-1"))
    write("malformed.toml", 'name = "x"\nseeds = = 3\n')
    write("empty_axis.toml", GOOD.replace("steps = 1", "steps = []"))
    write("cache_yes.toml", GOOD.replace("seeds = 1", 'seeds = 1\ncache = "yes"'))
    write("calls_text.toml", GOOD + '\n[budget]\nmax_calls = "5"\n')
    write("seed_2_63.toml", GOOD.replace("seeds = 1", "seeds = [9223372036854775808]"))
    write("seed_negative.toml", GOOD.replace("seeds = 1", "seeds = [-1]"))
    write("seeds_zero.toml", GOOD.replace("seeds = 1", "seeds = 0"))
    write("extra_field.toml", GOOD.replace("seeds = 1", "seeds = 1\ncolour = 1"))
    rules = ", ".join(map(str, range(256)))
    widths = ", ".join(map(str, range(3, 1004)))
    steps = ", ".join(map(str, range(1, 1001)))
    huge = f"params = {{ rule = [{rules}], width = [{widths}], steps = [{steps}] }}"
    write("huge_grid.toml", GOOD.replace("seeds = 1", "seeds = 100000").replace("params = { width = 4, steps = 1 }", huge))
    write("huge_episode.toml", GOOD.replace("width = 4, steps = 1", "width = 1024, steps = 1000"))
    write("same_model_twice.toml", GOOD + '\n[[models]]\nname = "scripted/oracle"\nargs = { retries = 3 }\n')
    write("afile.txt", "not a directory")
    write("garbage.sqlite", b"this is not sqlite" * 100)

    def sqlite_dir(name: str, script: str) -> None:
        (d / name).mkdir()
        con = sqlite3.connect(d / name / "results.sqlite")
        con.executescript(script)
        con.close()
        out[name] = str(d / name)

    sqlite_dir("foreign", "CREATE TABLE people(name TEXT);")
    sqlite_dir("wrong_schema", "CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', '2');"
                               "CREATE TABLE episodes(a); CREATE TABLE runs(b); CREATE TABLE steps(c);")
    sqlite_dir("future_schema", "CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', '99');")
    (d / "garbage").mkdir()
    (d / "garbage" / "results.sqlite").write_bytes(b"this is not sqlite" * 100)
    out["garbage"] = str(d / "garbage")
    # a finished experiment, for the report's own checks and for a different experiment into it
    res = runner.invoke(app, ["experiment", out["good"], "--out", str(d / "done"), "--quiet"])
    assert res.exit_code == 0, res.output
    out["done"] = str(d / "done")
    out["unwritable"] = _unwritable_parent(d)
    return out


def _unwritable_parent(d: Path) -> str:
    """A directory in which nothing can be created (root may write anywhere but in /sys)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/sys/agentloop-test"
    ro = d / "readonly"
    ro.mkdir(mode=0o500)
    return str(ro / "out")


# (case id, argv with {names} from the fixture, a fragment of the one error line)
CASES = [
    # typer's own usage errors
    ("unknown command", ["nosuch"], "No such command"),
    ("missing argument", ["run"], "Missing argument"),
    ("unknown flag", ["run", "eca", "--foo"], "No such option: --foo"),
    ("flag takes no value", ["run", "eca", "--json=yes"], "--json"),
    ("seed not a number", ["run", "eca", "--seed", "abc"], "--seed"),
    ("max-connections 0", ["experiment", "{good}", "--out", "{dir}/o1", "--max-connections", "0"], "--max-connections"),
    ("missing --out", ["experiment", "{good}"], "--out"),
    ("max-steps 0", ["run", "eca", "--max-steps", "0"], "--max-steps"),
    ("report without dir", ["report"], "Missing argument"),
    ("scenarios bad flag", ["scenarios", "--bogus"], "--bogus"),
    # run: names, parameters, models
    ("seed 2^63", ["run", "eca", "--seed", "9223372036854775808"], "2^63"),
    ("negative seed", ["run", "eca", "--seed", "-1"], "seeds are 0"),
    ("unknown scenario", ["run", "nosuch"], "unknown scenario"),
    ("parameter out of range", ["run", "eca", "-p", "rule=300"], "rule"),
    ("parameter of the wrong type", ["run", "eca", "-p", "width=wide"], "width"),
    ("malformed -p", ["run", "eca", "-p", "rule"], "malformed -p"),
    ("unknown parameter", ["run", "eca", "-p", "colour=1"], "colour"),
    ("parameter twice", ["run", "eca", "-p", "rule=1", "-p", "rule=2"], "given twice"),
    ("unknown condition", ["run", "eca", "--condition", "magic"], "unknown condition"),
    ("model without provider", ["run", "eca", "--model", "oracle"], "provider/model"),
    ("unknown scripted model", ["run", "eca", "--model", "scripted/genius"], "unknown scripted model"),
    ("model argument out of range", ["run", "eca", "--model", "scripted/noisy", "-M", "error=2"], "error"),
    ("unknown model argument", ["run", "eca", "--model", "scripted/noisy", "-M", "colour=1"], "colour"),
    ("retries 0", ["run", "eca", "-M", "retries=0"], "retries"),
    ("negative retry_wait", ["run", "eca", "-M", "retry_wait=-1"], "retry_wait"),
    ("malformed -M", ["run", "eca", "-M", "novalue"], "malformed -M"),
    # run: inputs in range but too big to run
    ("a million oneshot steps", ["run", "eca", "-p", "width=1024", "-p", "steps=1000", "--condition", "oneshot"], "--max-steps"),
    ("a million hanoi moves", ["run", "hanoi", "-p", "disks=20"], "--max-steps"),
    ("a conversation of millions of tokens", ["run", "eca", "-p", "width=300", "-p", "steps=300", "--condition", "stepwise"],
     "--max-prompt-tokens"),
    # experiment files
    ("no such file", ["experiment", "{dir}/nosuch.toml", "--out", "{dir}/o2"], "cannot read experiment file"),
    ("not UTF-8", ["experiment", "{latin1}", "--out", "{dir}/o3"], "not UTF-8"),
    ("malformed TOML", ["experiment", "{malformed}", "--out", "{dir}/o4"], "malformed TOML"),
    ("empty axis", ["experiment", "{empty_axis}", "--out", "{dir}/o5"], "empty list"),
    ("cache = 'yes'", ["experiment", "{cache_yes}", "--out", "{dir}/o6"], "cache"),
    ("max_calls = '5'", ["experiment", "{calls_text}", "--out", "{dir}/o7"], "max_calls"),
    ("seed 2^63 in a file", ["experiment", "{seed_2_63}", "--out", "{dir}/o8"], "seeds"),
    ("negative seed in a file", ["experiment", "{seed_negative}", "--out", "{dir}/o9"], "seeds"),
    ("seed count 0", ["experiment", "{seeds_zero}", "--out", "{dir}/o10"], "seed count"),
    ("unknown field", ["experiment", "{extra_field}", "--out", "{dir}/o11"], "colour"),
    ("grid of 10^13 episodes", ["experiment", "{huge_grid}", "--out", "{dir}/o12"], "--max-episodes"),
    ("an episode of a million steps", ["experiment", "{huge_episode}", "--out", "{dir}/o13"], "--max-steps"),
    ("the same model twice", ["experiment", "{same_model_twice}", "--out", "{dir}/o14"], "same name"),
    ("-M without --model", ["experiment", "{good}", "--out", "{dir}/o15", "-M", "error=0.1"], "needs --model"),
    ("bad --model", ["experiment", "{good}", "--out", "{dir}/o16", "--model", "noisy"], "provider/model"),
    # experiment: the output directory
    ("--out under a file", ["experiment", "{good}", "--out", "{afile}/sub"], "cannot create --out"),
    ("--out is a file", ["experiment", "{good}", "--out", "{afile}"], "not a directory"),
    ("--out in a parent that cannot be written", ["experiment", "{good}", "--out", "{unwritable}"], "--out"),
    ("--out holds a foreign SQLite file", ["experiment", "{good}", "--out", "{foreign}"], "not an agentloop results store"),
    ("--out holds a wrong schema", ["experiment", "{good}", "--out", "{wrong_schema}"], "lacks"),
    ("--out holds a garbage file", ["experiment", "{good}", "--out", "{garbage}"], "results.sqlite"),
    ("another experiment into --out", ["experiment", "{other}", "--out", "{done}"], "--append"),
    # report and show
    ("report: no directory", ["report", "{dir}/nosuch"], "no experiment directory"),
    ("report: no store", ["report", "{dir}"], "no results store"),
    ("report: foreign SQLite file", ["report", "{foreign}"], "not an agentloop results store"),
    ("report: wrong schema", ["report", "{wrong_schema}"], "lacks"),
    ("report: future schema", ["report", "{future_schema}"], "results schema 99"),
    ("report: garbage file", ["report", "{garbage}"], "results.sqlite"),
    ("report: unknown baseline", ["report", "{done}", "--baseline", "nosuch"], "unknown --baseline"),
    ("show: unknown episode", ["show", "{done}", "nosuch"], "no single episode"),
]


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_exit_2(f, argv, fragment):
    res = runner.invoke(app, [a.format(**f) for a in argv])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2, (res.exit_code, res.output, repr(res.exception))
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in res.output and not res.stdout


def test_the_table_is_large():
    assert len(CASES) >= 40


def test_a_refused_experiment_leaves_no_run_behind(f):
    """A seed past SQLite's integers used to fail mid-run and leave the run marked unfinished."""
    res = runner.invoke(app, ["experiment", f["seed_2_63"], "--out", f["done"]])
    assert res.exit_code == 2
    runs = json.loads(runner.invoke(app, ["report", f["done"], "--json"]).stdout)["runs"]
    assert all(r["finished_at"] for r in runs)


def test_a_refused_report_leaves_a_foreign_file_as_it_was(f):
    db = Path(f["foreign"]) / "results.sqlite"
    before = db.read_bytes()
    assert runner.invoke(app, ["report", f["foreign"]]).exit_code == 2
    assert runner.invoke(app, ["experiment", f["good"], "--out", f["foreign"]]).exit_code == 2
    assert db.read_bytes() == before
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["people"]
