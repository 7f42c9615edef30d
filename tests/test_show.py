"""`agentloop show`: an episode's transcript from the store, readable, without re-running it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.loop import run_episode
from agentloop.store import ResultsStore

runner = CliRunner()


def _store(tmp_path, condition="full", **args):
    rec = run_episode("eca", {"rule": 110, "width": 6, "steps": 2}, condition=condition, model="scripted/noisy",
                      model_args={"error": 0.3, "format": 0.1, **args}, seed=3)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        store.add_episode("abcdef0123", rec, store.begin_run({}, {}))
    return rec


def test_show_prints_every_reply_verdict_and_tally(tmp_path):
    rec = _store(tmp_path)
    out = runner.invoke(app, ["show", str(tmp_path), "abcd"])
    assert out.exit_code == 0, out.output
    replies = [x for s in rec.steps for a in s.attempts for x in a.replies]
    assert out.output.count("    reply ") == len(replies) and "votes: " in out.output
    assert "red-flagged" in out.output and "Let me think" in out.output  # the unreadable texts are kept
    one = runner.invoke(app, ["show", str(tmp_path), "abcdef0123", "--step", "1", "--prompts"])
    assert "step 1 ·" in one.output and "step 0 ·" not in one.output and "[system] Elementary" in one.output


def test_show_json_is_the_record_with_its_requests(tmp_path):
    rec = _store(tmp_path, condition="verify")
    out = runner.invoke(app, ["show", str(tmp_path), "abcdef", "--json"])
    back = json.loads(out.output)
    assert back["steps"][0]["attempts"][0]["replies"][0]["text"] == rec.steps[0].attempts[0].replies[0].text
    assert set(back["prompts"]) == {a.prompt for s in rec.steps for a in s.attempts}


def test_show_an_unknown_episode_is_one_error_line(tmp_path):
    _store(tmp_path)
    out = runner.invoke(app, ["show", str(tmp_path), "zzz"])
    assert out.exit_code == 2 and out.output.count("\n") == 1 and out.output.startswith("error: ")
    missing = runner.invoke(app, ["show", str(tmp_path / "nowhere"), "abc"])
    assert missing.exit_code == 2 and "error: " in missing.output


def test_the_html_report_links_each_failed_episode_to_its_transcript(tmp_path):
    from agentloop.report import load_report, render_html

    for seed in range(3):
        rec = run_episode("eca", {"rule": 110, "width": 6, "steps": 2}, condition="tape", model="scripted/noisy",
                          model_args={"error": 0.3}, seed=seed)
        with ResultsStore(tmp_path / "results.sqlite") as store:
            store.add_episode(f"key{seed}", rec, store.begin_run({"name": "t"}, {}))
    data = load_report(tmp_path)
    assert data.failures_total == len(data.failures) >= 1
    html = render_html(data)
    for f in data.failures:
        assert f"href='#ep-{f.key}'" in html and f"id='ep-{f.key}'" in html
        assert f"step {f.step} ·" in f.transcript and "reply 0:" in f.transcript


def test_run_prints_step_records_for_small_episodes_and_totals_only_for_huge_ones():
    small = json.loads(runner.invoke(app, ["run", "hanoi", "-p", "disks=3", "--json"]).output)
    assert len(small["steps"]) == len(small["step_ok"]) == small["steps_total"] == 7
    assert small["steps"][0]["attempts"][0]["replies"][0]["text"]
    # Without the steps, the record leaves out every per-step array (a million-step run prints
    # no million-element list) and names what it left out.
    bare = json.loads(runner.invoke(app, ["run", "hanoi", "-p", "disks=3", "--no-steps", "--json"]).output)
    per_step = ["steps", "step_ok", "answer", "expected", "prompts"]
    assert bare["omitted"] == per_step and not set(per_step) & set(bare)
    assert bare["steps_correct"] == small["steps_correct"] and bare["calls"] == small["calls"]
    big = json.loads(runner.invoke(app, ["run", "hanoi", "-p", "disks=14", "-p", "start=classic", "--json"]).output)
    assert big["success"] and big["omitted"] == per_step and big["steps_total"] == big["steps_correct"] == 16383
