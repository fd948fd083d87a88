"""The results store: one SQLite database per study directory (``DIR/study.sqlite``, WAL mode).

It is the single source of truth for what a study holds: every run's full spec, kind, arm, ratio, seed,
status, error, per-epoch history, results and provenance. Tensors stay in model directories beside it.
Only the driver process writes; workers hand their outcome back as a plain dict.

Every dispatch of a run is an *attempt* (its own table), so one can always tell how many times a run
was started and that none was started again after it had finished.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
import functools
from typing import Any, Callable, Iterable

from ..artifacts import dumps as strict_dumps
from ..errors import ConfigError
from .job import FINISHED, Job

DB_NAME = "study.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('base', 'run')),
    arm TEXT, ratio REAL, seed INTEGER NOT NULL,
    base_id TEXT, base_path TEXT, device TEXT NOT NULL DEFAULT 'cpu',
    snapshots TEXT NOT NULL DEFAULT '[]',
    position INTEGER NOT NULL DEFAULT 0,
    current INTEGER NOT NULL DEFAULT 1,
    spec TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'done', 'failed', 'diverged')),
    error TEXT, detail TEXT,
    result TEXT, history TEXT, provenance TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL, finished_at REAL, wall_s REAL
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    started_at REAL NOT NULL, finished_at REAL,
    outcome TEXT, driver_pid INTEGER
);
"""

_JSON_COLUMNS = ("spec", "meta", "snapshots", "result", "history", "provenance")


class StoreError(ConfigError):
    """The study database cannot be read or written (locked, read-only, disk full, not a database)."""


def _guarded(fn: Callable) -> Callable:
    """SQLite errors of a Store method become one-line StoreErrors naming the database."""
    @functools.wraps(fn)
    def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise store_error(self.path, err) from None
    return wrapper


def db_path(study_dir: str | Path) -> Path:
    return Path(study_dir) / DB_NAME


class Store:
    """A study's database. ``Store.open(dir)`` for readers, ``Store.create(dir)`` for the driver."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def create(cls, study_dir: str | Path) -> "Store":
        path = db_path(study_dir)
        if path.exists() and not path.is_file():
            raise ConfigError(f"{path}: exists and is not a file (a study database is a file)")
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.is_file()
        try:
            conn = _connect(path, timeout=LOCK_WAIT_S)
            if existed:
                _check_schema(conn, path)
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")  # the write lock, within LOCK_WAIT_S: else say who holds it
            conn.execute("COMMIT")
            conn.execute(f"PRAGMA busy_timeout = {int(WRITE_WAIT_S * 1000)}")
        except sqlite3.Error as err:
            raise store_error(path, err) from None
        store = cls(conn, path)
        found = store.get_meta("schema_version")
        if found is None:
            store.set_meta("schema_version", SCHEMA_VERSION)
        elif found != SCHEMA_VERSION:
            raise ConfigError(f"{path}: study database schema {found}, this prunebench reads {SCHEMA_VERSION}")
        return store

    @classmethod
    def open(cls, study_dir: str | Path, *, write: bool = False) -> "Store":
        """An existing study's database, for reading (status, results, audit, report). Opened
        read-only (``mode=ro``; ``immutable=1`` where even that cannot work, e.g. a WAL database on a
        read-only copy whose ``-shm`` file cannot be created), so a read-only copy reads as well.
        ``write=True`` opens it for writing (tools and tests that edit a study)."""
        path = db_path(study_dir)
        if path.exists() and not path.is_file():
            raise ConfigError(f"{path}: exists and is not a file (a study database is a file)")
        if not path.is_file():
            raise ConfigError(f"{study_dir}: not a study directory (no {DB_NAME})")
        conn = None
        last: sqlite3.Error | None = None
        for flags in (("mode=rw",) if write else ("mode=ro", "immutable=1")):
            try:
                conn = _connect(path, uri_flags=flags, timeout=LOCK_WAIT_S)
                _check_schema(conn, path)
                break
            except ConfigError:
                if conn is not None:
                    conn.close()
                raise
            except sqlite3.Error as err:
                if conn is not None:
                    conn.close()
                conn, last = None, err
                if _is_lock(err) or not isinstance(err, sqlite3.OperationalError):
                    break
        if conn is None:
            assert last is not None
            raise store_error(path, last) from None
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    # -- metadata -------------------------------------------------------------------------------

    @_guarded
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    @_guarded
    def set_meta(self, key: str, value: Any) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, strict_dumps(value)))

    # -- the study's runs -------------------------------------------------------------------------

    @_guarded
    def sync_jobs(self, jobs: Iterable[Job]) -> None:
        """Make the stored runs match the study file's expansion: new runs are added as pending,
        known ones keep their status and results; runs no longer in the file are kept but hidden
        (``current = 0``). A finished base run that lacks a weight snapshot a new arm needs goes back
        to pending."""
        jobs = list(jobs)
        with self.conn:
            self.conn.execute("UPDATE runs SET current = 0")
            for job in jobs:
                self._upsert(job)

    def _upsert(self, job: Job) -> None:
        old = self.conn.execute("SELECT status, snapshots FROM runs WHERE run_id = ?", (job.run_id,)).fetchone()
        cols = {
            "kind": job.kind, "arm": job.arm, "ratio": job.ratio, "seed": job.seed, "base_id": job.base_id,
            "base_path": job.base_path, "device": job.device, "position": job.position, "current": 1,
            "spec": json.dumps(job.spec, sort_keys=True), "meta": json.dumps(job.meta, sort_keys=True),
        }
        if old is None:
            cols.update(run_id=job.run_id, snapshots=json.dumps(sorted(job.snapshots)), status="pending")
            names = ", ".join(cols)
            self.conn.execute(f"INSERT INTO runs ({names}) VALUES ({', '.join('?' * len(cols))})", tuple(cols.values()))
            return
        had = set(json.loads(old[1]))
        if not set(job.snapshots) <= had:
            cols["snapshots"] = json.dumps(sorted(had | set(job.snapshots)))
            if old[0] in FINISHED:
                cols["status"] = "pending"
        sets = ", ".join(f"{k} = ?" for k in cols)
        self.conn.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", (*cols.values(), job.run_id))

    @_guarded
    def rows(self, *, current_only: bool = True, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs WHERE 1 = 1"
        args: list[Any] = []
        if current_only:
            sql += " AND current = 1"
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY kind = 'run', position, run_id"
        return [_decode(r) for r in self.conn.execute(sql, args)]

    @_guarded
    def get(self, run_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _decode(row)

    @_guarded
    def attempts(self, run_id: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM attempts", ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id = ?", (run_id,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    @_guarded
    def counts(self, *, kind: str | None = None) -> dict[str, int]:
        sql = "SELECT status, COUNT(*) FROM runs WHERE current = 1"
        args: tuple = ()
        if kind is not None:
            sql, args = sql + " AND kind = ?", (kind,)
        found = dict(self.conn.execute(sql + " GROUP BY status", args).fetchall())
        return {s: found.get(s, 0) for s in ("pending", "running", "done", "failed", "diverged")}

    # -- state changes (driver only) --------------------------------------------------------------

    @_guarded
    def start(self, run_id: str, driver_pid: int) -> int:
        """Mark a run running and open an attempt; returns the attempt id."""
        now = time.time()
        with self.conn:
            self.conn.execute(
                "UPDATE runs SET status = 'running', attempts = attempts + 1, started_at = ?, error = NULL, "
                "detail = NULL WHERE run_id = ?", (now, run_id))
            cur = self.conn.execute(
                "INSERT INTO attempts (run_id, started_at, driver_pid) VALUES (?, ?, ?)", (run_id, now, driver_pid))
        return int(cur.lastrowid)

    @_guarded
    def finish(self, run_id: str, outcome: dict[str, Any], attempt: int | None = None) -> None:
        """Record a worker's outcome (status, result, history, provenance, error) in one transaction."""
        now = time.time()
        status = outcome["status"]
        with self.conn:
            self.conn.execute(
                "UPDATE runs SET status = ?, error = ?, detail = ?, result = ?, history = ?, provenance = ?, "
                "finished_at = ?, wall_s = ? WHERE run_id = ?",
                (status, outcome.get("error"), outcome.get("detail"), _dumps(outcome.get("result")),
                 _dumps(outcome.get("history")), _dumps(outcome.get("provenance")), now, outcome.get("wall_s"),
                 run_id))
            label = "recovered" if outcome.get("recovered") else status
            if attempt is None:
                # No dispatch: recovered at start-up from a complete model directory (logged as an
                # attempt that executed nothing), or failed because its base failed (not logged).
                if outcome.get("recovered"):
                    self.conn.execute(
                        "INSERT INTO attempts (run_id, started_at, finished_at, outcome) VALUES (?, ?, ?, ?)",
                        (run_id, now, now, label))
            else:
                self.conn.execute("UPDATE attempts SET finished_at = ?, outcome = ? WHERE id = ?", (now, label, attempt))

    def fail(self, run_id: str, error: str, attempt: int | None = None) -> None:
        self.finish(run_id, {"status": "failed", "error": error}, attempt)

    @_guarded
    def requeue(self, run_ids: Iterable[str], reason: str = "interrupted") -> None:
        """Put runs back to pending (their open attempts are closed as ``reason``)."""
        now = time.time()
        with self.conn:
            for run_id in run_ids:
                self.conn.execute("UPDATE runs SET status = 'pending' WHERE run_id = ?", (run_id,))
                self.conn.execute(
                    "UPDATE attempts SET finished_at = ?, outcome = ? WHERE run_id = ? AND finished_at IS NULL",
                    (now, reason, run_id))


#: How long opening a study waits for another process's lock before saying who holds it.
LOCK_WAIT_S = 2.0
#: How long the driver's writes wait for a reader's brief lock once the study is open.
WRITE_WAIT_S = 30.0


def _connect(path: Path, *, uri_flags: str | None = None, timeout: float = WRITE_WAIT_S) -> sqlite3.Connection:
    if uri_flags is None:
        conn = sqlite3.connect(str(path), timeout=timeout)
    else:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{uri_flags}", uri=True, timeout=timeout)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """A prunebench study database of the schema this version reads (one-line errors otherwise)."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.OperationalError:  # locked, read-only, I/O: said by store_error
        raise
    except sqlite3.DatabaseError as err:  # "file is not a database", "malformed"
        raise ConfigError(f"{path}: not a prunebench study database ({err})") from None
    missing = sorted({"meta", "runs", "attempts"} - tables)
    if missing:
        raise ConfigError(f"{path}: not a prunebench study database (no {', '.join(missing)} table)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    found = None if row is None else row[0]
    if found is not None and found != json.dumps(SCHEMA_VERSION):
        raise ConfigError(f"{path}: study database schema {found}, this prunebench reads {SCHEMA_VERSION}")
    conn.execute("SELECT run_id, kind, status, current FROM runs LIMIT 1").fetchall()


def _is_lock(err: sqlite3.Error) -> bool:
    return "locked" in str(err) or "busy" in str(err)


def _cannot_open(err: sqlite3.Error) -> bool:
    text = str(err)
    return "unable to open" in text or "readonly" in text or "read-only" in text


def store_error(path: Path, err: sqlite3.Error) -> StoreError:
    """A one-line error for what SQLite says about a study database: who holds a lock, a read-only
    place, a full disk, a file that is not a database."""
    text = str(err)
    if _is_lock(err):
        return StoreError(f"{path}: locked by {lock_holder(path)}; try again when it has finished")
    if "full" in text:
        return StoreError(f"{path}: disk full ({text})")
    if "disk I/O" in text:
        return StoreError(f"{path}: cannot be written ({text}: disk full or file too large?)")
    if _cannot_open(err):
        return StoreError(f"{path}: cannot be opened or written ({text})")
    return StoreError(f"{path}: not a prunebench study database ({text})")


def lock_holder(path: Path) -> str:
    """Who holds a lock on a database (or its -wal/-shm files): the prunebench driver recorded in
    .driver.lock, else the process /proc/locks names (Linux), else "another process"."""
    pids: list[int] = []
    try:
        inodes = {p.stat().st_ino for p in (path, Path(f"{path}-shm"), Path(f"{path}-wal")) if p.exists()}
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()
            if len(parts) > 5 and parts[1] in ("POSIX", "FLOCK", "OFDLCK"):
                pid, ident = parts[4], parts[5]
                if pid.isdigit() and ident.rsplit(":", 1)[-1].isdigit() and int(ident.rsplit(":", 1)[-1]) in inodes:
                    if int(pid) not in pids and int(pid) != os.getpid():
                        pids.append(int(pid))
    except OSError:
        pass
    if pids:
        names = []
        for pid in pids:
            try:
                cmd = " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split())
            except OSError:
                cmd = ""
            names.append(f"pid {pid}" + (f" ({cmd[:80]})" if cmd else ""))
        return "process " + ", ".join(names)
    driver = path.parent / ".driver.lock"
    try:
        recorded = driver.read_text().strip()
    except OSError:
        recorded = ""
    return f"the prunebench driver {recorded}" if recorded else "another process"


def _dumps(value: Any) -> str | None:
    return None if value is None else strict_dumps(value, sort_keys=True)  # non-finite numbers as null


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS:
        if out.get(key) is not None:
            out[key] = json.loads(out[key])
    return out

