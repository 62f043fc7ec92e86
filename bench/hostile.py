"""Peak memory of one run over hostile inputs: huge reports, history files beyond any real one.

Each input is ingested, parsed, projected and published by a fresh process of its own (no
Prefect), whose peak RSS is read from ``getrusage``; the parent prints a markdown table and
writes ``bench/corpus/hostile.json``. Inputs (generated, deterministic):

- ``csv-200mb``: a minfin-shaped history CSV of 200 MB (3.3M rows);
- ``json-1m``: a petroivaniuk-shaped JSON list of 1,000,000 entries, dates up to year 9999;
- ``text-200mb``: 200 MB of ticker lines;
- ``csv-45mb`` / ``json-480k`` / ``text-45mb``: the same under the default 50 MB report limit,
  so the parsers' own bounds (characters of text, rows) are what holds memory;
- ``text-3.9mb``: ticker text just under the 4M-character text limit: what parsing costs;
- ``json-20k``: 20,000 entries (1.4 MB, at the row cap), nearly all absurdly dated: parsed,
  every absurd figure quarantined, all filed under the day received.

Usage::

    .venv/bin/python -m bench.hostile                 # all eight (~3 min on 2 cores)
    .venv/bin/python -m bench.hostile --only json-1m
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["INPUTS", "main", "measure_one"]

_MB = 1_000_000
_CSV_HEADER = "date,day,personnel,tanks,apv,artillery,mlrs,aaws,aircraft,helicopters,uav\n"


def _csv(path: Path, size: int) -> None:
    with path.open("w") as out:
        out.write(_CSV_HEADER)
        written, n = len(_CSV_HEADER), 0
        while written < size:
            line = f"2023-{n % 12 + 1:02d}-{n % 28 + 1:02d},{n},{n},1,2,3,4,5,6,7,{n % 999}\n"
            out.write(line)
            written, n = written + len(line), n + 1


def _json(path: Path, entries: int) -> None:
    with path.open("w") as out:
        out.write("[")
        for n in range(entries):
            year = 2022 + n % 7978  # up to 9999: most dates absurd
            out.write(f'{"," if n else ""}{{"date": "{year:04d}-{n % 12 + 1:02d}-01", '
                      f'"day": {n}, "tank": {n}, "aircraft": {n % 400}}}')
        out.write("]")


def _text(path: Path, size: int) -> None:
    block = "".join(f"Tank: {6000 + n} (+{n % 30})\nAPV: {9000 + n}\n" for n in range(500))
    block = "31.01.2024\n" + block
    with path.open("w") as out:
        for _ in range(size // len(block) + 1):
            out.write(block)


INPUTS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "csv-200mb": ("history.minfin/h.csv", lambda p: _csv(p, 200 * _MB)),
    "json-1m": ("history.petroivaniuk/h.json", lambda p: _json(p, 1_000_000)),
    "text-200mb": ("ticker.en/t.txt", lambda p: _text(p, 200 * _MB)),
    "csv-45mb": ("history.minfin/h.csv", lambda p: _csv(p, 45 * _MB)),
    "json-480k": ("history.petroivaniuk/h.json", lambda p: _json(p, 480_000)),
    "json-20k": ("history.petroivaniuk/h.json", lambda p: _json(p, 20_000)),
    "text-45mb": ("ticker.en/t.txt", lambda p: _text(p, 45 * _MB)),
    "text-3.9mb": ("ticker.en/t.txt", lambda p: _text(p, 3_900_000)),
}


def measure_one(inbox: Path, home: Path) -> dict[str, Any]:
    """Ingest ``inbox`` into ``home``, parse, project and publish; what it took (in-process)."""
    from lossledger.pipeline import RunSettings, bring_up_to_date
    from lossledger.store.ingest import ingest_files, report_files

    started = time.perf_counter()
    settings = RunSettings.resolve(home)
    with settings.store() as store:
        ingest_files(store, report_files([inbox]))
    _, tables = bring_up_to_date(settings)
    quarantine = tables.quarantine
    partitions = len(list((home / "warehouse" / "quarantine").glob("year=*/month=*")))
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "quarantine_rows": quarantine.height,
        "quarantine_partitions": partitions,
        "reason": quarantine["reason"][0] if quarantine.height else None,
        "observations": tables.observations.height,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(INPUTS))
    parser.add_argument("--child", nargs=2, metavar=("INBOX", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_one(Path(args.child[0]), Path(args.child[1]))))
        return
    results: dict[str, Any] = {}
    print("| input | file MB | peak RSS MB | s | quarantine rows | partitions | reason |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name in args.only or INPUTS:
        where, make = INPUTS[name]
        with tempfile.TemporaryDirectory(prefix="lossledger-hostile-") as tmp:
            inbox = Path(tmp, "inbox")
            target = inbox / where
            target.parent.mkdir(parents=True)
            make(target)
            size = target.stat().st_size
            done = subprocess.run(
                [sys.executable, "-m", "bench.hostile", "--child", str(inbox), str(Path(tmp, "h"))],
                capture_output=True, text=True, check=True,
            )
            shutil.rmtree(inbox)
        result = {"file_mb": round(size / _MB, 1), **json.loads(done.stdout.splitlines()[-1])}
        results[name] = result
        reason = (result["reason"] or "-")[:70]
        print(f"| {name} | {result['file_mb']} | {result['peak_rss_mb']} | {result['seconds']} "
              f"| {result['quarantine_rows']} | {result['quarantine_partitions']} | {reason} |",
              flush=True)
    out = Path(__file__).parent / "corpus" / "hostile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
