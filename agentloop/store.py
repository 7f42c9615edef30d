"""The results store (SQLite, WAL) and the response cache.

`results.sqlite` holds, for one experiment directory: every run's spec and provenance, one row
per finished episode (keyed by its deterministic key, so an episode is never stored twice) and
one row per step. Each episode is written in one transaction: a killed run loses at most the
episodes still in flight. Values that are not plain columns are JSON, never pickle.

The response cache is a separate SQLite file of model replies keyed by a hash of (model, model
arguments, messages, sample index). litellm's own cache cannot serve here: its disk backend
was removed and its in-memory cache needs fastapi.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agentloop._kv import identity_args, redact_argv
from agentloop.budget import BudgetExceeded, Hold, refusal
from agentloop.errors import AgentloopError
from agentloop.models import Hint, Message, Model, ModelWrapper
from agentloop.types import Completion, EpisodeRecord, Limits, StepRecord

__all__ = ["CachingModel", "EpisodeJournal", "Ledger", "ResponseCache", "ResultsStore", "SCHEMA_VERSION"]

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    spec TEXT NOT NULL,
    provenance TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS episodes (
    key TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    scenario TEXT NOT NULL,
    params TEXT NOT NULL,
    condition TEXT NOT NULL,
    model TEXT NOT NULL,
    model_args TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    success INTEGER NOT NULL,
    steps_total INTEGER NOT NULL,
    steps_correct INTEGER NOT NULL,
    first_error_step INTEGER,
    calls INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cost REAL,
    wall_s REAL NOT NULL,
    simulated INTEGER NOT NULL,
    record TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    episode_key TEXT NOT NULL REFERENCES episodes(key),
    idx INTEGER NOT NULL,
    label TEXT NOT NULL,
    answer TEXT,
    code TEXT NOT NULL,
    ok INTEGER NOT NULL,
    first_ok INTEGER NOT NULL,
    on_track INTEGER NOT NULL,
    committed INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    format_retries INTEGER NOT NULL DEFAULT 0,
    transcript BLOB,  -- zlib-compressed JSON: the step's attempts (replies, verdicts, votes)
    PRIMARY KEY (episode_key, idx)
);
-- A resumable episode's last checkpoint (zlib-compressed JSON, see agentloop.loop._durable):
-- its step rows up to `step` are in `steps`, written in the same transaction. Deleted when
-- the episode is stored.
CREATE TABLE IF NOT EXISTS checkpoints (
    episode_key TEXT PRIMARY KEY,
    step INTEGER NOT NULL,
    state BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
-- Every distinct request of the transcripts, once (zlib-compressed JSON messages), by hash.
CREATE TABLE IF NOT EXISTS prompts (hash TEXT PRIMARY KEY, messages BLOB NOT NULL);
-- Episodes cut short by the experiment budget, a stop or a provider failure: not results.
CREATE TABLE IF NOT EXISTS aborted (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    episode_key TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    calls INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost REAL NOT NULL
);
-- The experiment budget's ledger: one row per request sent to a model, written before it is
-- sent (state 'held', the tokens reserved) and settled after ('done': what it cost; 'failed':
-- its prompt). A row still 'held' after its run ended was in flight when the run was killed.
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    cost REAL NOT NULL
);
-- The running total of `requests` (one row), so a reservation reads one row, not the ledger.
CREATE TABLE IF NOT EXISTS spent (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    calls INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost REAL NOT NULL
);
"""
# Stores written before the ledger start it from what their episodes recorded.
_START_LEDGER = """
INSERT OR IGNORE INTO spent(id, calls, tokens, cost) SELECT 1,
    (SELECT COALESCE(SUM(calls), 0) FROM episodes) + (SELECT COALESCE(SUM(calls), 0) FROM aborted),
    (SELECT COALESCE(SUM(tokens_in + tokens_out), 0) FROM episodes) + (SELECT COALESCE(SUM(tokens), 0) FROM aborted),
    (SELECT COALESCE(SUM(cost), 0) FROM episodes) + (SELECT COALESCE(SUM(cost), 0) FROM aborted)
"""
# What a store must hold to be read at all (the others are added by a run when missing).
_REQUIRED_TABLES = ("meta", "runs", "episodes", "steps")

_STEP_COLS = (
    "idx, label, answer, code, ok, first_ok, on_track, committed, attempts, samples, calls, prompt_tokens, "
    "tokens_out, latency_s, format_retries, transcript"
)
# Version 1 stores lack the transcript columns; `_migrate` adds them (old steps keep none).
_V2_STEP_COLUMNS = ("format_retries INTEGER NOT NULL DEFAULT 0", "transcript BLOB")


def _pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, ensure_ascii=False).encode(), 6)


def _unpack(blob: bytes | None) -> Any:
    return json.loads(zlib.decompress(blob)) if blob else None


def _pack_transcript(s: StepRecord) -> bytes | None:
    """A step's transcript blob: its attempts (a list), or — when the planner agent chose the
    step — {"attempts", "plans", "plan_ok"}."""
    attempts = [a.model_dump(mode="json") for a in s.attempts]
    if s.plans or s.plan_ok is not None:
        return _pack({"attempts": attempts, "plans": [p.model_dump(mode="json") for p in s.plans], "plan_ok": s.plan_ok})
    return _pack(attempts) if attempts else None


def _unpack_transcript(blob: bytes | None) -> dict[str, Any]:
    t = _unpack(blob)
    if isinstance(t, dict):
        return {"attempts": t.get("attempts") or [], "plans": t.get("plans") or [], "plan_ok": t.get("plan_ok")}
    return {"attempts": t or []}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _connect(path: Path, *, any_thread: bool = False, autocommit: bool = False) -> sqlite3.Connection:
    try:
        con = sqlite3.connect(
            path, timeout=30, check_same_thread=not any_thread, **({"isolation_level": None} if autocommit else {})
        )
        con.execute("PRAGMA journal_mode=WAL")
        # NORMAL under WAL: a committed episode survives a killed process (not a power cut).
        con.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        raise AgentloopError(f"{path}: not a usable SQLite file ({exc})") from None
    return con


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open without writing: no table is created, the journal mode is left as it is. A store in
    a directory nobody may write to (no WAL index can be made there) is read as immutable."""
    uri = path.resolve().as_uri()
    try:
        con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        con = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise AgentloopError(f"{path}: not a usable SQLite file ({exc})") from None
    return con


def _columns(con: sqlite3.Connection) -> dict[str, set[str]]:
    """Every table of a database (and temporary view) and its column names."""
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' UNION "
                                        "SELECT name FROM sqlite_temp_master WHERE type='view'")]
    return {t: {r[1] for r in con.execute(f"PRAGMA table_info({t})")} for t in tables if not t.startswith("sqlite_")}


def _expected_columns() -> dict[str, set[str]]:
    """The tables and columns `_SCHEMA` makes (read from SQLite itself, so never out of date)."""
    con = sqlite3.connect(":memory:")
    con.executescript(_SCHEMA)
    out = _columns(con)
    con.close()
    return out


class ResultsStore:
    """`DIR/results.sqlite`. Use from one thread at a time (the runner writes from its event loop,
    which may run in a helper thread when the caller already has a loop).

    `create=False` opens an existing store read-only (for reports): nothing is written to it,
    so a foreign SQLite file is refused unchanged and a read-only store can be read.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.read_only = not create
        if self.read_only and not self.path.is_file():
            raise AgentloopError(f"no results store at {self.path}; run `agentloop experiment FILE --out DIR` first")
        try:
            self.con = self._open()
        except sqlite3.DatabaseError as exc:
            raise self._not_a_store(str(exc)) from None
        try:
            self._check_schema()
            if not self.read_only:
                with self.con:
                    self.con.execute(_START_LEDGER)
        except sqlite3.DatabaseError as exc:
            self.con.close()
            raise self._not_a_store(str(exc)) from None
        except BaseException:
            self.con.close()
            raise

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            return _connect_read_only(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AgentloopError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from None
        if self.path.is_file() and self.path.stat().st_size:
            probe = _connect_read_only(self.path)  # a foreign file is refused before anything is written to it
            try:
                if _columns(probe) and "meta" not in _columns(probe):
                    raise self._not_a_store("no meta table")
            finally:
                probe.close()
        con = _connect(self.path, any_thread=True)
        try:
            with con:
                con.executescript(_SCHEMA)
                con.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
        except BaseException:
            con.close()
            raise
        return con

    def _not_a_store(self, why: str) -> AgentloopError:
        return AgentloopError(f"{self.path}: not an agentloop results store ({why})")

    def _check_schema(self) -> None:
        """The version this agentloop reads, and every table with the columns it uses: a wrong
        store is one error line here, never a failed query later."""
        have = _columns(self.con)
        if "meta" not in have:
            raise self._not_a_store("no meta table")
        row = self.con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = row[0] if row else None
        if version == "1":
            version = self._read_v1() if self.read_only else self._migrate_v1()
            have = _columns(self.con)
        if str(version) != str(SCHEMA_VERSION):
            raise AgentloopError(f"{self.path}: results schema {version}, this agentloop reads {SCHEMA_VERSION}")
        for table, columns in _expected_columns().items():
            if table not in have:
                if table in _REQUIRED_TABLES:
                    raise self._not_a_store(f"no {table} table")
            elif not columns <= have[table]:
                raise self._not_a_store(f"table {table} lacks {', '.join(sorted(columns - have[table]))}")

    def _read_v1(self) -> int:
        """A version 1 store opened read-only: its steps are read through a temporary view with
        the transcript columns (old steps have none), since the file itself is not migrated."""
        self.con.execute(
            "CREATE TEMP VIEW steps AS SELECT *, 0 AS format_retries, NULL AS transcript FROM main.steps"
        )
        return SCHEMA_VERSION

    def _migrate_v1(self) -> int:
        """Version 1 → 2: the steps table gains the transcript columns (old steps have none)."""
        with self.con:
            have = {r[1] for r in self.con.execute("PRAGMA table_info(steps)")}
            for column in _V2_STEP_COLUMNS:
                if column.split()[0] not in have:
                    self.con.execute(f"ALTER TABLE steps ADD COLUMN {column}")
            self.con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        return SCHEMA_VERSION

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- runs ------------------------------------------------------------------------------
    def begin_run(self, spec: dict[str, Any], provenance: dict[str, Any]) -> int:
        with self.con:
            cur = self.con.execute(
                "INSERT INTO runs(started_at, spec, provenance) VALUES (?, ?, ?)",
                (provenance.get("started_at") or _now(), json.dumps(spec), json.dumps(provenance)),
            )
        return int(cur.lastrowid)

    def end_run(self, run_id: int, summary: dict[str, Any]) -> None:
        with self.con:
            self.con.execute(
                "UPDATE runs SET finished_at=?, summary=? WHERE run_id=?", (_now(), json.dumps(summary), run_id)
            )

    def runs(self) -> list[dict[str, Any]]:
        rows = self.con.execute(
            "SELECT run_id, started_at, finished_at, spec, provenance, summary FROM runs ORDER BY run_id"
        ).fetchall()
        return [
            {
                "run_id": r[0],
                "started_at": r[1],
                "finished_at": r[2],
                "spec": json.loads(r[3]),
                "provenance": _redacted_provenance(json.loads(r[4])),
                "summary": json.loads(r[5]) if r[5] else None,
            }
            for r in rows
        ]

    # --- episodes --------------------------------------------------------------------------
    def episode_keys(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT key FROM episodes")}

    def add_episode(self, key: str, rec: EpisodeRecord, run_id: int) -> bool:
        """Store one finished episode and its steps in one transaction; False if the key is there."""
        # Straight to JSON text: a long episode's answer lists are not copied as Python objects.
        head = rec.model_dump_json(exclude={"steps", "prompts"})
        with self.con:
            cur = self.con.execute(
                "INSERT OR IGNORE INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    run_id,
                    rec.scenario,
                    json.dumps(rec.params, sort_keys=True),
                    rec.condition,
                    rec.model,
                    json.dumps(rec.model_args, sort_keys=True),
                    rec.seed,
                    rec.status,
                    int(rec.success),
                    rec.steps_total,
                    rec.steps_correct,
                    rec.first_error_step,
                    rec.calls,
                    rec.tokens_in,
                    rec.tokens_out,
                    rec.cost,
                    rec.wall_s,
                    int(rec.simulated),
                    head,
                    _now(),
                ),
            )
            if cur.rowcount == 0:
                return False
            self.con.execute("DELETE FROM checkpoints WHERE episode_key=?", (key,))
            if rec.steps:  # else they were streamed in by the episode's journal
                self.con.execute("DELETE FROM steps WHERE episode_key=?", (key,))
                _insert_steps(self.con, key, rec.steps, rec.prompts)
        return True

    def latency_s(self, key: str) -> float:
        """Seconds the model took over the stored steps of episode `key`."""
        row = self.con.execute("SELECT SUM(latency_s) FROM steps WHERE episode_key=?", (key,)).fetchone()
        return float(row[0] or 0.0)

    def journal(self, key: str) -> EpisodeJournal:
        """Where the episode `key` streams its step records and checkpoints as it runs (its own
        connection: the episode may run in another thread). Close it when the episode ends."""
        return EpisodeJournal(self.path, key)

    def add_aborted(self, key: str, run_id: int, reason: str, calls: int, tokens: int, cost: float) -> None:
        with self.con:
            self.con.execute(
                "INSERT INTO aborted(episode_key, run_id, reason, calls, tokens, cost) VALUES (?,?,?,?,?,?)",
                (key, run_id, reason, calls, tokens, cost),
            )

    def spent(self) -> tuple[int, int, float]:
        """Calls, tokens and dollars of every request every run has sent (the ledger's total,
        reservations still held or left by a killed run included)."""
        calls, tokens, cost = self.con.execute("SELECT calls, tokens, cost FROM spent").fetchone()
        return int(calls), int(tokens), float(cost)

    def ledger(self, limits: Limits, run_id: int) -> Ledger:
        """The experiment budget, kept in this store (close it when the run ends)."""
        return Ledger(self.path, limits, run_id)

    def count(self) -> int:
        return int(self.con.execute("SELECT COUNT(*) FROM episodes").fetchone()[0])

    def episodes(self, *, where: str = "", args: tuple = ()) -> list[tuple[str, EpisodeRecord]]:
        """Every stored episode as (key, EpisodeRecord with its steps and their transcripts), in
        storage order. The requests themselves are not attached: see `prompts`."""
        steps: dict[str, list[StepRecord]] = {}
        fields = [f.strip() for f in _STEP_COLS.split(",")]
        episode_filter = f"WHERE episode_key IN (SELECT key FROM episodes {where})" if where else ""
        for row in self.con.execute(
            f"SELECT episode_key, {_STEP_COLS} FROM steps {episode_filter} ORDER BY episode_key, idx", args
        ):
            d = dict(zip(fields, row[1:]))
            d["index"] = d.pop("idx")
            d["answer"] = json.loads(d["answer"]) if d["answer"] is not None else None
            d.update(_unpack_transcript(d.pop("transcript")))
            if d["attempts"]:  # the step's tally is its last attempt's (kept with the transcript)
                d["votes"] = d["attempts"][-1].get("votes")
            steps.setdefault(row[0], []).append(StepRecord.model_validate(d))
        out = []
        for key, record in self.con.execute(f"SELECT key, record FROM episodes {where} ORDER BY rowid", args):
            rec = EpisodeRecord.model_validate({**json.loads(record), "steps": steps.get(key, [])})
            out.append((key, rec))
        return out

    def episode(self, key: str, *, prompts: bool = True) -> EpisodeRecord | None:
        """One episode by its key (a unique prefix will do), with the requests of its transcript."""
        found = self.episodes(where="WHERE key LIKE ? || '%'", args=(key,))
        if len(found) != 1:
            return None
        rec = found[0][1]
        if prompts:
            hashes = {a.prompt for s in rec.steps for a in [*s.plans, *s.attempts] if a.prompt}
            rec = rec.model_copy(update={"prompts": self.prompts(hashes)})
        return rec

    def episode_head(self, key: str) -> EpisodeRecord | None:
        """One episode by its exact key, without its step records (a long one's are many)."""
        row = self.con.execute("SELECT record FROM episodes WHERE key=?", (key,)).fetchone()
        return None if row is None else EpisodeRecord.model_validate(json.loads(row[0]))

    def prompts(self, hashes: set[str]) -> dict[str, list[dict[str, str]]]:
        """The stored requests with these hashes."""
        out = {}
        for h in hashes:
            row = self.con.execute("SELECT messages FROM prompts WHERE hash=?", (h,)).fetchone()
            if row is not None:
                out[h] = _unpack(row[0])
        return out


def _insert_steps(
    con: sqlite3.Connection, key: str, steps: list[StepRecord], prompts: dict[str, list[dict[str, str]]]
) -> None:
    con.executemany("INSERT OR IGNORE INTO prompts(hash, messages) VALUES (?, ?)", [(h, _pack(m)) for h, m in prompts.items()])
    con.executemany(
        f"INSERT OR REPLACE INTO steps(episode_key, {_STEP_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                key,
                s.index,
                s.label,
                json.dumps(s.answer),
                s.code,
                int(s.ok),
                int(s.first_ok),
                int(s.on_track),
                int(s.committed),
                len(s.attempts),
                s.samples,
                s.calls,
                s.prompt_tokens,
                s.tokens_out,
                s.latency_s,
                s.format_retries,
                _pack_transcript(s),
            )
            for s in steps
        ],
    )


class EpisodeJournal:
    """One episode's step records and checkpoints, streamed into the store as it runs (the
    `Journal` of `agentloop.loop`): each `save` is one transaction, so after a kill the store
    holds a checkpoint and exactly the step rows before it (rows a killed run wrote after its
    last checkpoint are dropped by `load`)."""

    def __init__(self, path: Path, key: str) -> None:
        self.key = key
        self._con = _connect(path, any_thread=True)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> EpisodeJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self) -> dict[str, Any] | None:
        row = self._con.execute("SELECT step, state FROM checkpoints WHERE episode_key=?", (self.key,)).fetchone()
        with self._con:
            self._con.execute("DELETE FROM steps WHERE episode_key=? AND idx>=?", (self.key, row[0] if row else 0))
        if row is None:
            return None
        try:
            cp = _unpack(row[1])
        except (zlib.error, ValueError):
            cp = None
        if isinstance(cp, dict) and cp.get("step") == row[0]:
            return cp
        # unreadable: the episode starts over, without the rows written before it
        from agentloop._log import get_logger

        get_logger("agentloop.store").warning("checkpoint.unreadable", key=self.key, step=row[0])
        self.discard()
        return None

    def discard(self) -> None:
        """Forget the checkpoint and every step row (the episode starts over)."""
        with self._con:
            self._con.execute("DELETE FROM checkpoints WHERE episode_key=?", (self.key,))
            self._con.execute("DELETE FROM steps WHERE episode_key=?", (self.key,))

    def save(self, records: list[StepRecord], prompts: dict[str, list[dict[str, str]]], checkpoint: dict[str, Any] | None) -> None:
        with self._con:
            _insert_steps(self._con, self.key, records, prompts)
            if checkpoint is not None:
                self._con.execute(
                    "INSERT OR REPLACE INTO checkpoints(episode_key, step, state, updated_at) VALUES (?,?,?,?)",
                    (self.key, checkpoint["step"], _pack(checkpoint), _now()),
                )

    def step_ok(self, upto: int) -> bytes:
        rows = self._con.execute(
            "SELECT ok FROM steps WHERE episode_key=? AND idx<? ORDER BY idx", (self.key, upto)
        ).fetchall()
        return bytes(r[0] for r in rows)

    def committed_answers(self, upto: int) -> list[Any]:
        return [
            json.loads(r[0])
            for r in self._con.execute(
                "SELECT answer FROM steps WHERE episode_key=? AND idx<? AND committed=1 ORDER BY idx", (self.key, upto)
            )
        ]


def _redacted_provenance(p: dict[str, Any]) -> dict[str, Any]:
    """Runs are stored with their command line redacted; stores written before that are
    redacted when read, so no report prints a key they hold."""
    if isinstance(p.get("argv"), list):
        p["argv"] = redact_argv([str(a) for a in p["argv"]])
    return p


class Ledger:
    """The experiment budget, in the store: every request is reserved before it is sent.

    A reservation is a `requests` row and an addition to the `spent` total, written in one
    IMMEDIATE transaction (SQLite's write lock: every process on the store reserves against the
    same total) and committed before the request goes out, so a killed process leaves its
    requests in flight counted. Settling replaces the reservation by what the call cost, or by
    its prompt when the call failed (it was sent). Thread-safe: one connection behind a lock.
    """

    def __init__(self, path: Path, limits: Limits, run_id: int, scope: str = "experiment") -> None:
        self.limits, self.run_id, self.scope = limits, run_id, scope
        self._con = _connect(path, any_thread=True, autocommit=True)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._con.close()

    def _write(self, work) -> Any:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                out = work(self._con)
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
            return out

    def _refusal(self, con: sqlite3.Connection, need: int) -> str | None:
        calls, tokens, cost = con.execute("SELECT calls, tokens, cost FROM spent").fetchone()
        return refusal(self.limits, self.scope, calls, tokens, cost, need)

    def exhausted(self) -> bool:
        with self._lock:
            return self._refusal(self._con, 1) is not None

    def reserve(self, tokens: int, prompt: int) -> Hold:
        def work(con: sqlite3.Connection) -> Hold:
            why = self._refusal(con, tokens)
            if why is not None:
                raise BudgetExceeded(self.scope, why)
            cur = con.execute(
                "INSERT INTO requests(run_id, state, tokens, cost) VALUES (?, 'held', ?, 0)", (self.run_id, tokens)
            )
            con.execute("UPDATE spent SET calls = calls + 1, tokens = tokens + ?", (tokens,))
            return Hold(tokens, prompt, cur.lastrowid)

        return self._write(work)

    def settle(self, hold: Hold, c: Completion | None) -> None:
        """What the request cost (`c`), or, when it failed, its prompt: it was sent all the same."""
        state, tokens, cost = ("done", c.tokens_in + c.tokens_out, c.cost or 0.0) if c else ("failed", hold.prompt, 0.0)

        def work(con: sqlite3.Connection) -> None:
            con.execute("UPDATE requests SET state=?, tokens=?, cost=? WHERE id=?", (state, tokens, cost, hold.id))
            con.execute("UPDATE spent SET tokens = tokens + ?, cost = cost + ?", (tokens - hold.tokens, cost))

        self._write(work)

    def release(self, hold: Hold) -> None:
        """The request was never sent."""

        def work(con: sqlite3.Connection) -> None:
            con.execute("DELETE FROM requests WHERE id=?", (hold.id,))
            con.execute("UPDATE spent SET calls = calls - 1, tokens = tokens - ?", (hold.tokens,))

        self._write(work)


# --- response cache ---------------------------------------------------------------------------


def cache_key(
    model: str, args: dict[str, Any], messages: list[Message], sample: int, seed: int | None, hint_key: str | None
) -> str:
    """The request's identity. `seed` names the request within its episode (episode, step,
    attempt, sample), so a hit only ever replays the same request of the same episode, and two
    episodes never share a reply. A simulated model's reply also depends on its hint."""
    blob = json.dumps(
        {"model": model, "args": args, "messages": messages, "sample": sample, "seed": seed, "hint": hint_key},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Model replies in SQLite (JSON values); one connection per thread, safe to share."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []  # every thread's connection, to close at the end
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        with self._con() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                "value TEXT NOT NULL, created_at TEXT NOT NULL)"
            )

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            # each worker thread uses only its own connection; close() runs them down from the main thread
            con = self._local.con = _connect(self.path, any_thread=True)
            with self._lock:
                self._all.append(con)
        return con

    def close(self) -> None:
        with self._lock:
            for con in self._all:
                con.close()
            self._all.clear()
        self._local = threading.local()

    def get(self, key: str) -> Completion | None:
        row = self._con().execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        with self._lock:  # worker threads count at once; `+=` alone can lose a count
            if row is None:
                self.misses += 1
            else:
                self.hits += 1
        return None if row is None else Completion(**json.loads(row[0]))

    def put(self, key: str, model: str, c: Completion) -> None:
        with self._con() as con:
            con.execute(
                "INSERT OR REPLACE INTO responses VALUES (?,?,?,?)",
                (key, model, json.dumps(dataclasses.asdict(c)), _now()),
            )


class CachingModel(ModelWrapper):
    """Answers a request from the cache when it was seen before; otherwise asks and remembers.

    A hit returns the stored text and usage (so metrics do not change with the cache) but no
    latency and no retries: nothing was waited for.
    """

    def __init__(self, inner: Model, cache: ResponseCache) -> None:
        super().__init__(inner)
        self.cache = cache

    def _lookup(
        self, messages: list[Message], hint: Hint | None, sample: int, seed: int | None
    ) -> tuple[str, Completion | None]:
        # Credentials are not part of a request's identity: a rotated key still hits the cache.
        key = cache_key(self.name, identity_args(self.args), messages, sample, seed, hint.key if hint is not None else None)
        hit = self.cache.get(key)
        return key, (dataclasses.replace(hit, latency_s=0.0, retries=0) if hit is not None else None)

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        key, hit = self._lookup(messages, hint, sample, seed)
        if hit is not None:
            return hit
        out = self.inner.complete(messages, hint=hint, sample=sample, seed=seed)
        self.cache.put(key, self.name, out)
        return out

    async def acomplete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        key, hit = self._lookup(messages, hint, sample, seed)
        if hit is not None:
            return hit
        out = await self.inner.acomplete(messages, hint=hint, sample=sample, seed=seed)
        self.cache.put(key, self.name, out)
        return out
