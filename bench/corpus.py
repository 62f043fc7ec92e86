"""A realistic corpus of raw reports for benchmarks: every petroivaniuk day, many sources, defects.

Every day of the petroivaniuk history is rendered (with :func:`bench.render.render_report`)
in the five report formats by ``5 x scale`` sources (``gs_en.1``, ``ticker_de.2``, ...), each
with its own consistent style, so that no two sources publish the same bytes. Each source then
misbehaves the way real ones do:

- it misses days (scattered, plus one outage of several days in a row);
- a line is stale: a category repeats its value (and change) of an earlier day;
- a total has two adjacent digits swapped;
- it delivers a report twice, or a mirror republishes another source's file (exact duplicates);
- junk lands in its folder: an HTML error page, prose without figures, binary data.

The history files (petroivaniuk equipment and personnel JSON, the minfin CSV) are copied as-is.
The last day is held back in ``<out>/.next-day/<source>/`` (hidden, so ingesting ``<out>`` skips
it) for incremental runs; ``<out>/.manifest.json`` counts what was generated. The same seed
always gives the same bytes.

    python -m bench.corpus --out bench/corpus/x1 --scale 1 --seed 0 [--days N] [--check]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.render import (
    DEFAULT_STYLES,
    FORMATS,
    RenderStyle,
    ReportFormat,
    load_petroivaniuk_days,
    render_report,
)

__all__ = [
    "MANIFEST",
    "NEXT_DAY",
    "DefectRates",
    "Source",
    "generate",
    "load_series",
    "main",
    "make_sources",
]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PETROIVANIUK = SHARED_DATA / "petroivaniuk"
MINFIN = SHARED_DATA / "minfin" / "russia_losses.csv"
MANIFEST = ".manifest.json"
NEXT_DAY = ".next-day"
#: History files copied as-is: (source folder, file).
HISTORY_FILES = (
    ("history.petroivaniuk", PETROIVANIUK / "russia_losses_equipment.json"),
    ("history.petroivaniuk", PETROIVANIUK / "russia_losses_personnel.json"),
    ("history.minfin", MINFIN),
)
_DASHES = ("‒", "-", "–", "—", "−")
_QUALIFIERS = ("about", "around", "approximately", "more than", None)

Values = dict[str, int]
Deltas = dict[str, int | None]


@dataclass(frozen=True, slots=True)
class DefectRates:
    """How often each defect happens (per source and day unless said otherwise)."""

    missing: float = 0.02
    outage: tuple[int, int] = (2, 6)
    """Length range of the one outage (consecutive missing days) every source has."""
    stale: float = 0.02
    digit_swap: float = 0.01
    duplicate: float = 0.01
    """A report delivered twice; a third of them by a mirror, into another source's folder."""
    junk: float = 0.005


@dataclass(frozen=True, slots=True)
class Source:
    """One publisher: a format and the style it always writes in."""

    name: str
    fmt: ReportFormat
    style: RenderStyle
    json_indent: int | str | None = 2
    """API documents only: how the JSON is indented (``None``: one line)."""

    @property
    def suffix(self) -> str:
        return ".json" if self.fmt == "api_json" else ".txt"


@dataclass(slots=True)
class _Stats:
    """What was generated, for the manifest."""

    files: Counter[str] = field(default_factory=Counter)
    defects: Counter[str] = field(default_factory=Counter)
    digests: dict[str, str] = field(default_factory=dict)
    collisions: int = 0
    check_failures: list[str] = field(default_factory=list)


# --- the true series ----------------------------------------------------------------------


def load_series(days: int | None = None) -> tuple[dict[dt.date, Values], dict[dt.date, Deltas]]:
    """The petroivaniuk totals per day (the first ``days`` days only, if given) and the changes
    from the calendar day before (``None`` where that day is missing)."""
    series = load_petroivaniuk_days(
        PETROIVANIUK / "russia_losses_equipment.json", PETROIVANIUK / "russia_losses_personnel.json"
    )
    dates = sorted(series)[:days] if days else sorted(series)
    values = {day: series[day] for day in dates}
    deltas: dict[dt.date, Deltas] = {}
    for day in dates:
        before = values.get(day - dt.timedelta(days=1), {})
        deltas[day] = {
            code: total - before[code] if code in before else None
            for code, total in values[day].items()
        }
    return values, deltas


# --- sources and their styles -------------------------------------------------------------


def make_sources(scale: int, seed: int) -> list[Source]:
    """``scale`` sources per format; the first of each writes the format's usual style, the
    others a distinct style drawn (deterministically) from the format's variations."""
    sources = []
    for fmt in FORMATS:
        options = _style_options(fmt)
        random.Random(f"{seed}/styles/{fmt}").shuffle(options)
        chosen = [(DEFAULT_STYLES[fmt], 2), *options]
        for index in range(scale):
            style, indent = chosen[index % len(chosen)]
            sources.append(Source(f"{fmt}.{index + 1}", fmt, style, indent))
    return sources


def _style_options(fmt: ReportFormat) -> list[tuple[RenderStyle, int | str | None]]:
    if fmt in ("gs_en", "gs_uk"):
        styles = [
            RenderStyle(dash=dash, one_line=one_line, bom=bom, thousands=thousands,
                        qualifier=qualifier, wording_2022=old_wording)
            for dash, one_line, bom, thousands, qualifier, old_wording in itertools.product(
                _DASHES, (False, True), (False, True), ("", " ", "\u00a0"), ("about", None),
                (True, False),
            )
        ]
    elif fmt == "ticker_de":
        styles = [
            RenderStyle(thousands=thousands, qualifier=qualifier, echo=echo,
                        space_before_colon=colon, bom=bom, encoding=encoding)
            for thousands, qualifier, echo, colon, (bom, encoding) in itertools.product(
                (None, "", "\u00a0"), _QUALIFIERS, (False, True), (False, True),
                ((False, "utf-8"), (True, "utf-8"), (False, "cp1252")),
            )
        ]
    elif fmt == "ticker_en":
        styles = [
            RenderStyle(thousands=thousands, qualifier=qualifier, echo=echo,
                        space_before_colon=colon, bom=bom)
            for thousands, qualifier, echo, colon, bom in itertools.product(
                (None, ""), _QUALIFIERS, (False, True), (False, True), (False, True)
            )
        ]
    else:
        return [
            (RenderStyle(qualifier=None, envelope=envelope, omit_deltas=omit, bom=bom), indent)
            for envelope, omit, bom, indent in itertools.product(
                (True, False), (False, True), (False, True), (None, 1, 4, "\t")
            )
        ]
    default = DEFAULT_STYLES[fmt]
    return [(style, 2) for style in styles if style != default]


def _style_on(source: Source, day: dt.date) -> RenderStyle:
    """The source's style on a day: the early-2022 wording only while it was in use."""
    old_wording = source.style.wording_2022 and day.year == 2022
    return dataclasses.replace(source.style, wording_2022=old_wording)


def render(source: Source, day: dt.date, values: Values, deltas: Deltas) -> bytes:
    """One report of ``source`` for ``day``."""
    body = render_report(values, date=day, deltas=deltas, fmt=source.fmt,
                         style=_style_on(source, day))
    if source.fmt != "api_json" or source.json_indent == 2:
        return body
    bom = body.startswith(b"\xef\xbb\xbf")
    document = json.loads(body.decode("utf-8-sig"))
    text = json.dumps(document, ensure_ascii=False, indent=source.json_indent)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


# --- defects ------------------------------------------------------------------------------


def _missing_days(rng: random.Random, dates: Sequence[dt.date], rates: DefectRates) -> set[dt.date]:
    missing = {day for day in dates if rng.random() < rates.missing}
    length = rng.randint(*rates.outage)
    if len(dates) > 4 * length:
        start = rng.randrange(len(dates) - length)
        missing.update(dates[start : start + length])
    return missing


def _stale(
    rng: random.Random, day: dt.date, values: Values, deltas: Deltas,
    series: Mapping[dt.date, Values], changes: Mapping[dt.date, Deltas],
) -> bool:
    """Replace one category's line with an earlier day's (1-3 days back)."""
    code = rng.choice(sorted(values))
    earlier = day - dt.timedelta(days=rng.randint(1, 3))
    if code not in series.get(earlier, {}) or series[earlier][code] == values[code]:
        return False
    values[code] = series[earlier][code]
    deltas[code] = changes[earlier].get(code)
    return True


def _digit_swap(rng: random.Random, values: Values) -> bool:
    """Swap two adjacent, different digits of one total (never into a leading zero)."""
    code = rng.choice(sorted(values))
    digits = str(values[code])
    positions = [
        i for i in range(len(digits) - 1)
        if digits[i] != digits[i + 1] and not (i == 0 and digits[1] == "0")
    ]
    if not positions:
        return False
    i = rng.choice(positions)
    values[code] = int(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :])
    return True


def _junk(rng: random.Random, number: int) -> tuple[str, bytes]:
    kind = rng.choice(("html", "prose", "binary"))
    if kind == "html":
        body = (
            "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>"
            "<h1>Service Unavailable</h1><p>The server is temporarily unable to service your "
            f"request. Please try again later.</p><p>Reference #{rng.getrandbits(48):x}</p>"
            "</body></html>\n"
        )
        return f"junk-{number:04d}.html", body.encode()
    if kind == "prose":
        body = rng.choice((
            "Good morning. Today's figures are delayed; we will publish them as soon as the "
            "General Staff releases its update.",
            "Guten Morgen! Die Zahlen des Generalstabs folgen heute etwas später.",
            "Доброго ранку. Дані уточнюються, оновлення згодом.",
        ))
        return f"junk-{number:04d}.txt", f"{body}\nRef. {rng.getrandbits(40):x}\n".encode()
    return f"junk-{number:04d}.bin", b"\x89PNG\r\n\x1a\n\x00\x00" + rng.randbytes(
        rng.randint(256, 4096)
    )


# --- writing ------------------------------------------------------------------------------


class _Writer:
    """Writes files under the corpus root and keeps the counts of the manifest."""

    def __init__(self, root: Path, stats: _Stats) -> None:
        self.root = root
        self.stats = stats

    def write(self, relative: str, body: bytes, *, kind: str, unique: bool = True) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        self.stats.files[kind] += 1
        if unique:
            digest = hashlib.sha256(body).hexdigest()
            if digest in self.stats.digests:
                self.stats.collisions += 1
            self.stats.digests[digest] = relative


def _source_reports(
    source: Source,
    rng: random.Random,
    series: Mapping[dt.date, Values],
    changes: Mapping[dt.date, Deltas],
    dates: Sequence[dt.date],
    rates: DefectRates,
    stats: _Stats,
) -> Iterator[tuple[dt.date, Values, bytes]]:
    """Every report one source publishes: its days, with its defects, rendered."""
    missing = _missing_days(rng, dates, rates)
    stats.defects["missing_days"] += len(missing)
    for day in dates:
        if day in missing:
            continue
        values, deltas = dict(series[day]), dict(changes[day])
        if rng.random() < rates.stale and _stale(rng, day, values, deltas, series, changes):
            stats.defects["stale_lines"] += 1
        if rng.random() < rates.digit_swap and _digit_swap(rng, values):
            stats.defects["digit_swaps"] += 1
        yield day, values, render(source, day, values, deltas)


def _write_source(
    writer: _Writer,
    source: Source,
    sources: Sequence[Source],
    series: Mapping[dt.date, Values],
    changes: Mapping[dt.date, Deltas],
    dates: Sequence[dt.date],
    *,
    seed: int,
    rates: DefectRates,
    check: bool,
) -> None:
    rng = random.Random(f"{seed}/source/{source.name}")
    reports = 0
    for day, values, body in _source_reports(source, rng, series, changes, dates, rates,
                                             writer.stats):
        name = f"{day.isoformat()}{source.suffix}"
        writer.write(f"{source.name}/{name}", body, kind="reports")
        reports += 1
        if check:
            _check(writer.stats, source, day, values, body)
        if rng.random() < rates.duplicate:
            mirror = rng.random() < 1 / 3
            folder = rng.choice(sources).name if mirror else source.name
            copy = f"{folder}/{day.isoformat()}.{'mirror-of-' + source.name if mirror else 'again'}"
            writer.write(copy + source.suffix, body, kind="duplicates", unique=False)
    for number in range(round(reports * rates.junk)):
        name, body = _junk(rng, number)
        writer.write(f"{source.name}/{name}", body, kind="junk")


def _check(stats: _Stats, source: Source, day: dt.date, values: Values, body: bytes) -> None:
    """Parse the report back; it must give exactly the figures it was rendered from."""
    from lossledger.parse.parsers import parse_report

    result = parse_report(body, media_type="text/plain", file_name=f"{source.name}/{day}")
    parsed = {o.category: o.total for o in result.observations}
    if parsed != values or result.report_date != day or result.problems:
        problems = [p.reason for p in result.problems][:2]
        stats.check_failures.append(f"{source.name} {day}: {result.parser} {problems}")


def generate(
    out: Path | str,
    *,
    scale: int = 1,
    seed: int = 0,
    days: int | None = None,
    history: bool = True,
    rates: DefectRates | None = None,
    check: bool = False,
) -> dict[str, Any]:
    """Write the corpus under ``out`` (emptied first if it holds an earlier corpus).

    Returns the manifest (also written to ``out/.manifest.json``).
    """
    started = time.perf_counter()
    root = _prepare(Path(out))
    rates = rates or DefectRates()
    series, changes = load_series(days)
    dates = sorted(series)
    held_back, dates = dates[-1], dates[:-1]
    sources = make_sources(scale, seed)
    stats = _Stats()
    writer = _Writer(root, stats)
    for source in sources:
        _write_source(writer, source, sources, series, changes, dates, seed=seed, rates=rates,
                      check=check)
    for source in sources:
        body = render(source, held_back, series[held_back], changes[held_back])
        writer.write(f"{NEXT_DAY}/{source.name}/{held_back.isoformat()}{source.suffix}", body,
                     kind="next_day")
    if history:
        for folder, path in HISTORY_FILES:
            writer.write(f"{folder}/{path.name}", path.read_bytes(), kind="history")
    manifest = _manifest(stats, sources, scale=scale, seed=seed, dates=dates, next_day=held_back,
                         seconds=time.perf_counter() - started, check=check)
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _prepare(root: Path) -> Path:
    if root.exists() and any(root.iterdir()):
        if not (root / MANIFEST).exists():
            raise SystemExit(f"{root} is not empty and holds no corpus; refusing to overwrite it")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _manifest(
    stats: _Stats, sources: Sequence[Source], *, scale: int, seed: int,
    dates: Sequence[dt.date], next_day: dt.date, seconds: float, check: bool,
) -> dict[str, Any]:
    ingestible = sum(n for kind, n in stats.files.items() if kind != "next_day")
    return {
        "scale": scale,
        "seed": seed,
        "sources": [source.name for source in sources],
        "first_day": dates[0].isoformat(),
        "last_day": dates[-1].isoformat(),
        "next_day": next_day.isoformat(),
        "files": ingestible,
        "by_kind": dict(sorted(stats.files.items())),
        "defects": dict(sorted(stats.defects.items())),
        "accidental_collisions": stats.collisions,
        "checked": check,
        "check_failures": len(stats.check_failures),
        "check_failure_examples": stats.check_failures[:20],
        "seconds": round(seconds, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="corpus directory (emptied)")
    parser.add_argument("--scale", type=int, default=1, help="sources per format (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=int, default=None, help="only the first N days")
    parser.add_argument("--no-history", action="store_true", help="leave out the history files")
    parser.add_argument("--check", action="store_true",
                        help="parse every report back and count those that do not round-trip")
    args = parser.parse_args(argv)
    manifest = generate(args.out, scale=args.scale, seed=args.seed, days=args.days,
                        history=not args.no_history, check=args.check)
    summary = {k: v for k, v in manifest.items() if k != "sources"}
    json.dump(summary, sys.stdout, indent=2)
    print()
    return 1 if manifest["check_failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
