"""The event-store contract against a real PostgreSQL server.

Runs when ``LOSSLEDGER_TEST_PG`` names a server (``eval "$(bash .ci/postgres.sh start)"``
sets it); each test gets fresh databases of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from lossledger.store.base import EventStore, StoreError, open_store
from lossledger.store.postgres import PostgresEventStore
from tests.store_contract import EventStoreContract, report

PG_URL = os.environ.get("LOSSLEDGER_TEST_PG", "")

needs_pg = pytest.mark.skipif(
    not PG_URL, reason="set LOSSLEDGER_TEST_PG=postgresql://... to run the PostgreSQL store "
                       "contract (eval \"$(bash .ci/postgres.sh start)\" starts a server)"
)
pytestmark = pytest.mark.postgres


def _with_dbname(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


@pytest.fixture
def databases() -> Iterator[list[str]]:
    """A factory list: ``new_database(databases)`` adds one; all are dropped at teardown."""
    created: list[str] = []
    yield created
    if not created:
        return
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        for name in created:
            # FORCE: a test may leave a connection behind (the contract's concurrency test
            # never closes the store it builds only for its URL).
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_database(created: list[str]) -> str:
    name = f"lossledger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    created.append(name)
    return _with_dbname(PG_URL, name)


def _connect(store: EventStore) -> psycopg.Connection:
    assert isinstance(store, PostgresEventStore)
    return psycopg.connect(store.url, autocommit=True)


@needs_pg
class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture(autouse=True)
    def _databases(self, databases: list[str]) -> None:
        self.databases = databases

    def make_store(self) -> EventStore:
        return open_store(new_database(self.databases))

    _row = ("'e', 'ReportReceived', '2024-01-31T00:00:00+00:00', 'sha', '{}', '\\x00', "
            "'p', 'h'")
    write_paths = (
        f"INSERT INTO events VALUES (1, {_row}) ON CONFLICT (seq) DO UPDATE SET body = '\\x00'",
        "INSERT INTO events SELECT * FROM events WHERE seq = 1 "
        "ON CONFLICT (event_id) DO UPDATE SET payload = '{}'",
        "MERGE INTO events e USING (SELECT 1 AS seq) s ON e.seq = s.seq "
        "WHEN MATCHED THEN UPDATE SET body = '\\x00'",
        "MERGE INTO events e USING (SELECT 2 AS seq) s ON e.seq = s.seq WHEN MATCHED THEN DELETE",
        "UPDATE events SET body = '\\x00' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 2",
        "TRUNCATE events",
        f"INSERT INTO events VALUES (5, {_row})",
        f"INSERT INTO events VALUES (0, {_row})",
    )

    def try_sql(self, store: EventStore, sql: str) -> None:
        with _connect(store) as db:
            db.execute(sql)

    def tamper(self, store: EventStore, sql: str) -> None:
        with _connect(store) as db, db.transaction():
            db.execute("ALTER TABLE events DISABLE TRIGGER USER")
            db.execute(sql)
            db.execute("ALTER TABLE events ENABLE TRIGGER USER")


@needs_pg
class TestPostgresSpecifics:
    @pytest.fixture
    def url(self, databases: list[str]) -> str:
        return new_database(databases)

    def test_truncate_is_refused(self, url: str) -> None:
        with open_store(url) as store:
            store.append([report(b"a")])
            with _connect(store) as db, pytest.raises(psycopg.Error, match="immutable"):
                db.execute("TRUNCATE events")
            assert store.head() == 1

    def test_a_store_made_before_the_sequence_guard_gets_it_on_open(self, url: str) -> None:
        with open_store(url) as store:
            store.append([report(b"a")])
            with _connect(store) as db:
                db.execute("DROP TRIGGER events_refuse_out_of_sequence ON events")
        with open_store(url) as store, _connect(store) as db, pytest.raises(
            psycopg.Error, match="out of sequence"
        ):
            db.execute("INSERT INTO events SELECT seq + 5, event_id || 'x', kind, "
                           "recorded_at, NULL, payload, body, prev_hash, hash FROM events")

    def test_read_only_never_creates_a_store(self, url: str) -> None:
        with pytest.raises(StoreError, match="no lossledger event store"):
            open_store(url, read_only=True)

    def test_a_foreign_database_is_refused(self, url: str) -> None:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("CREATE TABLE customers (id integer)")
        with pytest.raises(StoreError, match="no lossledger marker"):
            open_store(url)

    def test_reopening_keeps_the_log(self, url: str) -> None:
        with open_store(url) as store:
            store.append([report(b"a"), report(b"b")])
        with open_store(url.replace("postgresql://", "postgres://", 1)) as store:
            assert store.head() == 2 and store.verify().ok

    def test_lock_calls_on_wait_only_when_held(self, url: str) -> None:
        waits: list[str] = []
        with open_store(url) as first, open_store(url) as second:
            with first.lock("pipeline", on_wait=lambda: waits.append("first")):
                # Held: the second holder is told, then waits; prove it by not waiting.
                with pytest.raises(_Waited), second.lock("pipeline", on_wait=_raise_waited):
                    pass
                with second.lock("other", on_wait=lambda: waits.append("other")):
                    pass
            with second.lock("pipeline", on_wait=lambda: waits.append("second")):
                pass
        assert waits == []

    def test_reads_in_pages_beyond_one_batch(self, url: str) -> None:
        with open_store(url) as store:
            store.append([report(f"{i}".encode()) for i in range(1203)])
            assert [e.seq for e in store.read(after=100, with_body=False)] == list(
                range(101, 1204))
            assert sum(1 for _ in store.read(kinds=["ReportReceived"], upto=1000)) == 1000
            assert store.verify().ok


class _Waited(Exception):
    pass


def _raise_waited() -> None:
    raise _Waited


def test_an_unreachable_server_is_one_clear_line() -> None:
    # A port nothing listens on: bind one, learn its number, release it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError) as caught:
        open_store(f"postgresql://nobody@127.0.0.1:{port}/lossledger?connect_timeout=5")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "\n" not in message
