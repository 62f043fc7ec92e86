"""The parsing layer: one raw report's bytes in, a :class:`ParseResult` out, never an exception.

:func:`parse_report` decodes the bytes, asks every parser in :data:`PARSERS` whether the text is
its format, and lets the single claimant read it. Anything else (undecodable bytes, no claimant,
two claimants, no figures) comes back as a result with ``parser=None`` or with problems, which
the pipeline quarantines with the reason.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lossledger.parse.extract.extract import CUES_PATH
from lossledger.parse.extract.markup import html_main_text, html_page_date
from lossledger.parse.ontology import ontology_fingerprint
from lossledger.parse.parsers._utils import (
    UndecodableReport,
    decode_report,
    looks_like_html,
)
from lossledger.parse.parsers.api_json import ApiJsonParser
from lossledger.parse.parsers.base import (
    SOURCE_KINDS,
    ParsedObservation,
    Parser,
    ParseResult,
    Problem,
    SourceKind,
)
from lossledger.parse.parsers.gs_en import GeneralStaffEnglishParser
from lossledger.parse.parsers.gs_uk import GeneralStaffUkrainianParser
from lossledger.parse.parsers.history_minfin import MinfinHistoryParser
from lossledger.parse.parsers.history_petroivaniuk import PetroivaniukHistoryParser
from lossledger.parse.parsers.text import GeneralTextParser
from lossledger.parse.parsers.ticker_de import TickerGermanParser
from lossledger.parse.parsers.ticker_en import TickerEnglishParser

__all__ = [
    "GENERAL_PARSER",
    "MAX_FIGURE",
    "MAX_PROBLEMS_PER_REPORT",
    "MAX_TEXT_CHARS",
    "PARSERS",
    "PARSERS_FINGERPRINT",
    "SOURCE_KINDS",
    "ParseResult",
    "ParsedObservation",
    "Parser",
    "Problem",
    "SourceKind",
    "parse_report",
    "parser_named",
]

PARSERS: tuple[Parser, ...] = (
    GeneralStaffEnglishParser(),
    GeneralStaffUkrainianParser(),
    TickerGermanParser(),
    TickerEnglishParser(),
    ApiJsonParser(),
    PetroivaniukHistoryParser(),
    MinfinHistoryParser(),
)
#: The general reader: runs when no template parser claims a report or reads nothing from it.
GENERAL_PARSER = GeneralTextParser()


#: The code that turns a report's bytes into figures: the built-in parsers and the general
#: reader. Its source is part of the cache key, so a reader changed without a new version
#: number still parses every report again.
_READER_SOURCES = (Path(__file__).parent, Path(__file__).parents[1] / "extract")


def _fingerprint(parsers: tuple[Parser, ...]) -> str:
    digest = hashlib.sha256(ontology_fingerprint().encode())
    digest.update(CUES_PATH.read_bytes())  # the general reader's distractor cues are data too
    for parser in sorted((*parsers, GENERAL_PARSER), key=lambda p: p.name):
        digest.update(f"\0{parser.name}\0{parser.version}".encode())
    for folder in _READER_SOURCES:
        for source in sorted(folder.glob("*.py")):
            digest.update(f"\0{source.name}\0".encode() + source.read_bytes())
    return digest.hexdigest()[:16]


#: Cache key of parse results: changes with any parser's name or version, the ontology tables,
#: the reader's cues or the parsers' and the reader's code.
PARSERS_FINGERPRINT: str = _fingerprint(PARSERS)


def parser_named(name: str) -> Parser:
    """The registered parser with that name.

    >>> parser_named("gs_en").source_kind
    'official'
    """
    for parser in (*PARSERS, GENERAL_PARSER):
        if parser.name == name:
            return parser
    raise KeyError(f"no parser named {name!r}")


def _quarantined(reason: str) -> ParseResult:
    return ParseResult(
        parser=None,
        parser_version=None,
        source_kind=None,
        report_date=None,
        problems=(Problem(reason),),
    )


def _claimants(
    text: str, media_type: str, parsers: Sequence[Parser]
) -> tuple[list[Parser], list[Problem]]:
    claimants: list[Parser] = []
    failures: list[Problem] = []
    # A template that finds no date reads no figure (its result is problems only). When no
    # parser finds one, those that said so are not asked to claim (the general reader reads
    # the text). Otherwise all are asked, as a text two templates claim goes to the general
    # reader.
    try:
        dating = [parser.finds_date(text) for parser in parsers]
    except Exception:  # a parser bug must not take the pipeline down: ask them all
        dating = [None] * len(parsers)
    if True not in dating:
        parsers = [parser for parser, dates in zip(parsers, dating, strict=True)
                   if dates is None]
    for parser in parsers:
        try:
            if parser.claims(text, media_type=media_type):
                claimants.append(parser)
        except Exception as error:  # a parser bug must not take the pipeline down
            failures.append(Problem(f"parser {parser.name} failed to check the report: {error!r}"))
    return claimants, failures


def _run(parser: Parser, text: str, media_type: str) -> ParseResult:
    try:
        result = parser.parse(text, media_type=media_type)
    except Exception as error:  # quarantine the report, not the pipeline
        result = ParseResult(
            parser=parser.name,
            parser_version=parser.version,
            source_kind=parser.source_kind,
            report_date=None,
            problems=(Problem(f"parser {parser.name} failed: {error!r}"),),
        )
    if not result.observations and not result.problems:
        problem = Problem(f"no figures found in the {parser.name} report")
        result = ParseResult(
            result.parser,
            result.parser_version,
            result.source_kind,
            result.report_date,
            (),
            (problem,),
        )
    return result


def parse_report(
    body: bytes,
    *,
    media_type: str,
    file_name: str,
    parsers: Sequence[Parser] | None = None,
    received_at: dt.datetime | None = None,
    metadata: Mapping[str, str] | None = None,
) -> ParseResult:
    """Parse one raw report.

    Parameters
    ----------
    body
        The report's bytes as received.
    media_type
        Its media type (a hint: ``text/html`` pages are stripped of markup first).
    file_name
        Its file name, used only in problem messages: dates never come from it.
    parsers
        The parsers that may claim it (a home's registry, with its declared formats);
        :data:`PARSERS` when omitted.
    received_at
        When the report was received: completes a date stated without a year.
    metadata
        HTTP provenance when the report was fetched (``charset``, ``date``,
        ``last_modified``...): the charset decodes, the dates complete a year. Optional.

    Returns
    -------
    ParseResult
        ``parser=None`` with a problem when the bytes are undecodable, empty, or claimed by
        no parser or by several; otherwise the claimant's result. Never raises.

    Examples
    --------
    >>> result = parse_report(b"Tank: 6310 (+10)\\n date 2024-01-31",
    ...                       media_type="text/plain", file_name="t.txt")
    >>> result.parser, result.report_date.isoformat(), result.observations[0].total
    ('ticker_en', '2024-01-31', 6310)
    >>> parse_report(b"", media_type="text/plain", file_name="e.txt").problems[0].reason
    "empty report 'e.txt'"
    """
    try:
        return _bounded(_parse_report(
            body, media_type=media_type, file_name=file_name, parsers=parsers or PARSERS,
            received_at=received_at, metadata=metadata or {},
        ))
    except Exception as error:  # the contract is: never raise, whatever the bytes
        return _quarantined(f"internal error while parsing '{file_name}': {error!r}")


#: The largest figure a report may state: no loss count comes near it, and sums of such
#: figures stay far inside 64-bit integers. Anything larger is a bad figure, quarantined.
MAX_FIGURE = 10**12
#: Text (after HTML is stripped; JSON included) longer than this is not parsed: memory and
#: time grow with it. Some forty times a news page, five times the largest history file.
MAX_TEXT_CHARS = 4_000_000
#: Problems kept per report; the rest are counted in one last problem. Bounds the quarantine
#: a single hostile report can fill (a million bad entries would be a million rows).
MAX_PROBLEMS_PER_REPORT = 1_000


def _bounded(result: ParseResult) -> ParseResult:
    """Out-of-range figures become problems; the problems of one report are capped.

    >>> import datetime as dt
    >>> big = ParseResult("p", "1", "ticker", None,
    ...                   (ParsedObservation(dt.date(2024, 1, 31), "tanks", 10**20),))
    >>> _bounded(big).problems[0].reason
    "figure out of range for 'tanks': 100000000000000000000"
    """
    kept: list[ParsedObservation] = []
    problems = list(result.problems)
    for observation in result.observations:
        figures = (observation.total, observation.stated_delta or 0)
        if -MAX_FIGURE <= figures[0] <= MAX_FIGURE and -MAX_FIGURE <= figures[1] <= MAX_FIGURE:
            kept.append(observation)
            continue
        label = observation.label or observation.category
        shown = observation.total if abs(observation.total) > MAX_FIGURE else figures[1]
        problems.append(Problem(f"figure out of range for '{label}': {shown}",
                                observation.date, observation.category))
    if len(problems) > MAX_PROBLEMS_PER_REPORT:
        dropped = len(problems) - MAX_PROBLEMS_PER_REPORT + 1
        problems = [*problems[: MAX_PROBLEMS_PER_REPORT - 1],
                    Problem(f"{dropped:,} more problems in this report (first "
                            f"{MAX_PROBLEMS_PER_REPORT - 1:,} listed)")]
    if len(kept) == len(result.observations) and len(problems) == len(result.problems):
        return result
    return ParseResult(result.parser, result.parser_version, result.source_kind,
                       result.report_date, tuple(kept), tuple(problems))


def _decode(body: bytes, charset: str | None) -> str:
    if charset:
        try:
            return body.decode(charset.strip().strip('"'))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong header: fall back to what the bytes say
    return decode_report(body)


def _metadata_date(metadata: Mapping[str, str]) -> dt.date | None:
    for key in ("published", "date_published", "last_modified", "last-modified", "date"):
        value = metadata.get(key)
        if not value:
            continue
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
        try:
            return email.utils.parsedate_to_datetime(value).date()
        except (TypeError, ValueError, IndexError):
            continue
    return None


def _parse_report(
    body: bytes,
    *,
    media_type: str,
    file_name: str,
    parsers: Sequence[Parser],
    received_at: dt.datetime | None,
    metadata: Mapping[str, str],
) -> ParseResult:
    try:
        text = _decode(body, metadata.get("charset"))
    except UndecodableReport as error:
        return _quarantined(str(error))
    header_date = _metadata_date(metadata)
    page_date: dt.date | Callable[[], dt.date | None] | None = header_date
    html = looks_like_html(text, media_type)
    if html:
        # htmldate only when the general reader meets a date without a year (it costs more
        # than reading the page's figures); the page's date wins over the headers' as before.
        markup = text
        page_date = lambda: html_page_date(markup) or header_date  # noqa: E731
        text = html_main_text(text)
    # Items and lines are split on "\n"; old Mac and Windows line ends must not merge them.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return _quarantined(f"empty report '{file_name}'")
    if len(text) > MAX_TEXT_CHARS:
        # Parsing costs time and memory in proportion (decoded JSON some fifty times its size):
        # refused, with the reason.
        return _quarantined(
            f"text of {len(text):,} characters not parsed: over the limit of "
            f"{MAX_TEXT_CHARS:,} (a news page has some 100,000; the largest real history file "
            "700,000)"
        )
    claimants, failures = _claimants(text, media_type, parsers)
    result = None
    if len(claimants) == 1:
        result = _run(claimants[0], text, media_type)
        if result.observations and not result.problems:
            return _with_failures(result, failures)
    general = _general(text, media_type, received_at, page_date, html)
    if result is not None and result.observations:
        # The template read part of it: the general reader wins only if it reads more.
        if general is None or len(general.observations) <= len(result.observations):
            return _with_failures(result, failures)
        return _with_failures(general, failures)
    if general is not None and (general.observations or general.problems):
        # A template parser that crashed says so beside the general reader's result.
        if result is not None:
            failures += [p for p in result.problems if p.reason.startswith("parser ")]
        return _with_failures(general, failures)
    if result is not None:
        return _with_failures(result, failures)
    if claimants:
        names = ", ".join(parser.name for parser in claimants)
        return _quarantined(f"ambiguous: claimed by {names}")
    reason = "no parser recognised the report (no loss figures found)"
    if failures:
        reason += "; " + "; ".join(problem.reason for problem in failures)
    return _quarantined(reason)


def _with_failures(result: ParseResult, failures: list[Problem]) -> ParseResult:
    if not failures:
        return result
    return ParseResult(
        result.parser,
        result.parser_version,
        result.source_kind,
        result.report_date,
        result.observations,
        (*result.problems, *failures),
    )


def _general(
    text: str,
    media_type: str,
    received_at: dt.datetime | None,
    page_date: dt.date | Callable[[], dt.date | None] | None,
    html: bool,
) -> ParseResult | None:
    try:
        result = GENERAL_PARSER.parse(
            text, media_type=media_type, received_at=received_at, page_date=page_date, html=html
        )
    except Exception as error:  # quarantine the report, not the pipeline
        return ParseResult(
            GENERAL_PARSER.name, GENERAL_PARSER.version, GENERAL_PARSER.source_kind, None,
            (), (Problem(f"parser {GENERAL_PARSER.name} failed: {error!r}"),),
        )
    return result if (result.observations or result.problems) else None
