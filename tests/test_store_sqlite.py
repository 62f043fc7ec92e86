from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lossledger.store.base import EventStore, StoreError, open_store
from lossledger.store.sqlite import SQLiteEventStore
from tests.store_contract import EventStoreContract


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.counter = 0

    def make_store(self) -> EventStore:
        self.counter += 1
        return open_store(f"sqlite:///{self.tmp_path / f'events{self.counter}.sqlite'}")

    _row = ("'e', 'ReportReceived', '2024-01-31T00:00:00+00:00', 'sha', '{}', x'00', "
            "'p', 'h'")
    write_paths = (
        f"INSERT OR REPLACE INTO events VALUES (1, {_row})",
        f"REPLACE INTO events VALUES (1, {_row})",
        "INSERT OR REPLACE INTO events SELECT seq, event_id || 'x', kind, recorded_at, "
        "content_sha256, payload, x'00', prev_hash, hash FROM events WHERE seq = 1",
        f"INSERT INTO events VALUES (1, {_row}) ON CONFLICT (seq) DO UPDATE SET body = x'00'",
        "UPDATE OR REPLACE events SET seq = 2 WHERE seq = 1",
        "UPDATE events SET body = x'00' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 2",
        f"INSERT INTO events VALUES (5, {_row})",
        f"INSERT INTO events VALUES (0, {_row})",
    )

    def try_sql(self, store: EventStore, sql: str) -> None:
        assert isinstance(store, SQLiteEventStore)
        with sqlite3.connect(store.path) as db:
            db.execute(sql)

    def tamper(self, store: EventStore, sql: str) -> None:
        assert isinstance(store, SQLiteEventStore)
        with sqlite3.connect(store.path) as db:
            db.execute("DROP TRIGGER IF EXISTS events_refuse_update")
            db.execute(sql)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    path.write_text("hello")
    with pytest.raises(StoreError, match="not a lossledger event store"):
        open_store(f"sqlite:///{path}")


def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(StoreError, match="no lossledger marker"):
        open_store(f"sqlite:///{path}")


def test_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="unknown store URL scheme 'mysql'"):
        open_store("mysql://localhost/x")
