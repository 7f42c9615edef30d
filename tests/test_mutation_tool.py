"""tools/mutation.py: the arithmetic of its scores (mutmut itself is not run here)."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("mutation_tool", Path(__file__).parents[1] / "tools" / "mutation.py")
mt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mt)


def test_modules_run_to_the_end_need_no_estimate():
    rows = {"a": Counter(killed=9, survived=1), "b": Counter(killed=5, equivalent=2)}
    assert mt.stratified(rows) is None
    assert mt.stratified({"a": Counter({"not run": 4})}) is None


def test_a_sampled_module_is_weighted_by_its_size_not_by_its_sample():
    # a: complete, 90 of 100 killed; b: 20 of 300 sampled, 10 killed (50%)
    rows = {"a": Counter(killed=90, survived=10), "b": Counter({"killed": 10, "survived": 10, "not run": 280})}
    score, lo, hi, covered, missing = mt.stratified(rows)
    assert covered == 400 and missing == []
    assert score == pytest.approx(100 * (100 * 0.9 + 300 * 0.5) / 400)  # 60%, not the pooled 100/120
    p = 12 / 24  # Agresti-Coull share of b; a (complete) adds no variance
    half = 1.959964 * math.sqrt((300 / 400) ** 2 * p * (1 - p) / 20 * (1 - 20 / 300))
    assert (lo, hi) == pytest.approx((score - 100 * half, score + 100 * half))


def test_equivalent_mutants_leave_the_weights_and_unmeasured_modules_are_named():
    rows = {"a": Counter({"killed": 1, "survived": 1, "equivalent": 8, "not run": 10}),
            "b": Counter({"killed": 3, "not run": 9}), "c": Counter({"not run": 7})}
    score, _, _, covered, missing = mt.stratified(rows)
    assert covered == 12 + 12 and missing == ["c"]
    assert score == pytest.approx(100 * (12 * 0.5 + 12 * 1.0) / 24)


def test_a_sample_takes_the_same_share_of_every_module_reproducibly():
    names = [f"agentloop.m{m}.x_f__mutmut_{i}" for m in (1, 2) for i in range(1, 41)] + ["agentloop.m3.x_g__mutmut_1"]
    s = mt.sample_per_module(names, 0.25, seed=3)
    assert s == mt.sample_per_module(names, 0.25, seed=3) != mt.sample_per_module(names, 0.25, seed=4)
    assert Counter(mt.module_of(n) for n in s) == {"m1": 10, "m2": 10, "m3": 1}  # at least one per module


def test_only_a_change_of_letter_case_outside_literals_is_an_sql_equivalent():
    case = '-    db.execute("SELECT key FROM steps WHERE a = :a")\n+    db.execute("select key from steps where a = :a")\n'
    literal = "-    db.execute(\"SELECT key FROM t WHERE s = 'ok'\")\n+    db.execute(\"SELECT KEY FROM T WHERE S = 'OK'\")\n"
    param = '-    db.execute("SELECT key FROM t WHERE a = :a")\n+    db.execute("SELECT KEY FROM T WHERE A = :A")\n'
    not_sql = '-    log("Hello world")\n+    log("hello world")\n'
    assert mt.sql_case_only(case)
    assert not mt.sql_case_only(literal) and not mt.sql_case_only(param) and not mt.sql_case_only(not_sql)


def test_a_sample_estimate_counts_only_the_drawn_mutants_and_weights_modules_by_size():
    results = {"agentloop.a.x_f__mutmut_1": 1, "agentloop.a.x_f__mutmut_2": 0, "agentloop.a.x_f__mutmut_3": 1,
               "agentloop.a.x_f__mutmut_4": 0, "agentloop.b.x_g__mutmut_1": 1, "agentloop.b.x_g__mutmut_2": 0,
               "agentloop.b.x_g__mutmut_3": None}
    equivalent = {"agentloop.a.x_f__mutmut_4": "same behaviour"}
    sample = {"agentloop.a.x_f__mutmut_1", "agentloop.a.x_f__mutmut_2", "agentloop.a.x_f__mutmut_4",
              "agentloop.b.x_g__mutmut_1"}
    rows = mt.sample_estimate(sample, results, equivalent, sizes={"a": 3, "b": 3})
    # a's third mutant was killed outside the sample: it does not count; the equivalent one is left out
    assert rows == {"a": Counter({"killed": 1, "survived": 1, "not run": 1}), "b": Counter({"killed": 1, "not run": 2})}
    score, *_ = mt.stratified(rows)
    assert score == pytest.approx(100 * (3 * 0.5 + 3 * 1.0) / 6)
