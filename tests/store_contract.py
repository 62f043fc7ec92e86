"""The one contract every event-store backend passes; each backend's test says how to build it."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
from abc import ABC, abstractmethod

import pytest

from lossledger.store.base import (
    GENESIS_HASH,
    EventStore,
    RunRecord,
    open_store,
    require_intact,
)
from lossledger.store.events import (
    FetchFailed,
    ReportReceived,
    ReportRetracted,
    TamperedEvent,
    TotalOverridden,
)


def report(body: bytes, *, source: str = "test", name: str = "r.txt") -> ReportReceived:
    return ReportReceived(source=source, file_name=name, media_type="text/plain", body=body)


class EventStoreContract(ABC):
    """Subclasses provide ``make_store`` (a fresh, empty store) and ``tamper``."""

    @abstractmethod
    def make_store(self) -> EventStore: ...

    @abstractmethod
    def tamper(self, store: EventStore, sql: str) -> None:
        """Run ``sql`` against the store's database with the immutability guards lifted."""

    @abstractmethod
    def try_sql(self, store: EventStore, sql: str) -> None:
        """Run ``sql`` against the store's database as an ordinary client would."""

    #: SQL that would alter, replace or remove event 1, or slip one in out of sequence, in
    #: this backend's dialect (each must be refused).
    write_paths: tuple[str, ...] = ()

    @pytest.fixture
    def store(self):
        store = self.make_store()
        yield store
        store.close()

    def test_append_assigns_gap_free_sequence_numbers(self, store: EventStore) -> None:
        result = store.append([report(b"a"), report(b"b"), report(b"c")])
        assert [e.seq for e in result.recorded] == [1, 2, 3]
        assert store.head() == 3
        assert [e.seq for e in store.read(after=1)] == [2, 3]
        assert [e.seq for e in store.read(after=0, upto=2)] == [1, 2]

    def test_same_bytes_twice_is_one_event(self, store: EventStore) -> None:
        first = store.append([report(b"same", name="a.txt")])
        again = store.append([report(b"same", name="b.txt", source="other")])
        assert len(first.recorded) == 1
        assert again.recorded == ()
        assert again.duplicates[0][1] == first.recorded[0].event_id
        assert store.head() == 1

    def test_duplicates_within_one_batch_are_counted_once(self, store: EventStore) -> None:
        result = store.append([report(b"x"), report(b"x"), report(b"y")])
        assert len(result.recorded) == 2 and len(result.duplicates) == 1

    def test_events_round_trip_with_raw_bytes(self, store: EventStore) -> None:
        raw = "Tank: 6310 (+10)\r\n".encode("utf-16")  # arbitrary bytes survive untouched
        original = report(raw, name="t.txt")
        override = TotalOverridden(
            date=dt.date(2024, 1, 31), category="tanks", total=6311, reason="typo", actor="qa"
        )
        store.append([original, override])
        stored = [e.to_domain() for e in store.read()]
        assert stored[0] == original
        assert stored[0].body == raw
        assert stored[1] == override

    def test_fetch_provenance_and_failures_round_trip(self, store: EventStore) -> None:
        fetched = ReportReceived(
            source="statistics-api", file_name="statistics-api_2026-11-24.json",
            media_type="text/html; charset=windows-1251", body=b"{}",
            metadata={"url": "https://example.org/2026-11-24", "status": "200",
                      "etag": '"v1"', "charset": "windows-1251"},
        )
        failed = FetchFailed(source="statistics-api", url="https://example.org/2026-11-25",
                             date=dt.date(2026, 11, 25), status=503, error="HTTP 503",
                             attempts=4)
        plain = report(b"from a file")
        store.append([fetched, failed, plain])
        stored = [e.to_domain() for e in store.read()]
        assert stored == [fetched, failed, plain]
        assert stored[0].metadata["etag"] == '"v1"' and stored[2].metadata is None
        # A file's event is stored as before provenance existed; same bytes fetched are one.
        assert "metadata" not in store.read(after=2).__next__().payload
        again = ReportReceived(source="other", file_name="x", media_type="text/plain",
                               body=b"{}", metadata={"url": "https://example.org/copy"})
        assert store.append([again]).duplicates[0][1] == fetched.event_id
        assert store.verify().ok

    def test_read_filters_by_kind_and_can_skip_bodies(self, store: EventStore) -> None:
        store.append([
            report(b"a"),
            ReportRetracted(target_event_id="x", reason="r", actor="qa"),
        ])
        kinds = [e.kind for e in store.read(kinds=["ReportRetracted"])]
        assert kinds == ["ReportRetracted"]
        assert all(e.body is None for e in store.read(with_body=False))

    def test_update_and_delete_are_refused(self, store: EventStore) -> None:
        store.append([report(b"a")])
        with pytest.raises(Exception, match="immutable"):
            self.try_sql(store, "UPDATE events SET kind = 'X' WHERE seq = 1")
        with pytest.raises(Exception, match="immutable"):
            self.try_sql(store, "DELETE FROM events WHERE seq = 1")
        assert store.head() == 1

    def test_no_sql_write_path_alters_or_removes_an_event(self, store: EventStore) -> None:
        store.append([report(b"a"), report(b"b")])
        before = [(e.seq, e.event_id, e.body, e.hash) for e in store.read()]
        assert len(self.write_paths) >= 5
        for sql in self.write_paths:
            with pytest.raises(Exception, match="immutable"):
                self.try_sql(store, sql)
        assert [(e.seq, e.event_id, e.body, e.hash) for e in store.read()] == before
        assert store.verify().ok
        assert len(store.append([report(b"c")]).recorded) == 1  # appending still works

    def test_every_event_is_checked_against_its_hash_before_use(self, store: EventStore) -> None:
        store.append([report(b"original"), report(b"other"),
                      ReportRetracted(target_event_id="x", reason="r", actor="qa")])
        assert [require_intact(e).seq for e in store.read()] == [1, 2, 3]
        self.tamper(store, "UPDATE events SET body = substr(body, 2) WHERE seq = 2")
        self.tamper(store, "UPDATE events SET payload = replace(payload, 'qa', 'qb') "
                           "WHERE seq = 3")
        with pytest.raises(TamperedEvent, match=r"event seq 2 .*lossledger verify"):
            [require_intact(e) for e in store.read()]
        with pytest.raises(TamperedEvent, match=r"event seq 3 .*fields do not match"):
            [require_intact(e) for e in store.read(kinds=["ReportRetracted"], with_body=False)]

    def test_hash_at_and_head_link_pin_the_log(self, store: EventStore) -> None:
        assert store.head_link() == (0, GENESIS_HASH) and store.hash_at(0) == GENESIS_HASH
        recorded = store.append([report(b"a"), report(b"b")]).recorded
        assert store.head_link() == (2, recorded[1].hash)
        assert store.hash_at(1) == recorded[0].hash and store.hash_at(3) is None

    def test_a_read_only_store_reads_but_refuses_writes(self, store: EventStore) -> None:
        store.append([report(b"a")])
        with open_store(store.url, read_only=True) as reader:
            assert reader.head() == 1 and reader.verify().ok
            with pytest.raises(Exception, match="read-only"):
                reader.append([report(b"b")])
        assert store.head() == 1

    def test_verify_passes_on_an_untouched_log(self, store: EventStore) -> None:
        store.append([report(bytes([i])) for i in range(20)])
        result = store.verify()
        assert result.ok and result.checked == 20

    def test_verify_names_the_first_altered_event(self, store: EventStore) -> None:
        store.append([report(bytes([i])) for i in range(10)])
        self.tamper(store, "UPDATE events SET payload = replace(payload, 'test', 'evil') "
                           "WHERE seq IN (4, 7)")
        result = store.verify()
        assert not result.ok
        assert result.first_bad_seq == 4

    def test_verify_notices_altered_raw_bytes(self, store: EventStore) -> None:
        store.append([report(b"original"), report(b"other")])
        self.tamper(store, "UPDATE events SET body = substr(body, 2) WHERE seq = 2")
        assert store.verify().first_bad_seq == 2

    def test_seq_at_a_moment(self, store: EventStore) -> None:
        before = dt.datetime.now(dt.UTC)
        store.append([report(b"a")])
        assert store.seq_at(before - dt.timedelta(seconds=1)) == 0
        assert store.seq_at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 1

    def test_count_by_kind(self, store: EventStore) -> None:
        store.append([report(b"a"), report(b"b"),
                      ReportRetracted(target_event_id="x", reason="r", actor="qa")])
        assert store.count_by_kind() == {"ReportReceived": 2, "ReportRetracted": 1}

    def test_runs_are_recorded_and_the_latest_is_returned(self, store: EventStore) -> None:
        t0 = dt.datetime(2024, 1, 31, 6, tzinfo=dt.UTC)
        store.record_run(RunRecord("r1", t0, None, "running", 0, 0, {}))
        store.record_run(RunRecord("r1", t0, t0, "completed", 0, 5, {"ingested": 5}))
        store.record_run(RunRecord("r0", t0 - dt.timedelta(days=1), t0, "completed", 0, 0))
        last = store.last_run()
        assert last is not None and last.run_id == "r1" and last.status == "completed"
        assert last.summary == {"ingested": 5}

    def test_concurrent_appends_keep_one_event_per_content(self) -> None:
        fresh = self.make_store()
        url = fresh.url
        fresh.close()
        bodies = [f"report {i}".encode() for i in range(40)]
        ctx = mp.get_context("spawn")
        with ctx.Pool(3) as pool:
            pool.starmap(_append_all, [(url, bodies)] * 3)
        store = self.make_existing(url)
        try:
            assert store.head() == 40
            assert store.verify().ok
            assert sorted(e.body for e in store.read()) == sorted(bodies)
        finally:
            store.close()

    def make_existing(self, url: str) -> EventStore:
        return open_store(url)


def _append_all(url: str, bodies: list[bytes]) -> None:
    from lossledger.store.base import open_store

    with open_store(url) as store:
        for body in bodies:
            store.append([report(body)])
