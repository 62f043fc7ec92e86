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
from collections.abc import Mapping

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


def _fingerprint(parsers: tuple[Parser, ...]) -> str:
    digest = hashlib.sha256(ontology_fingerprint().encode())
    digest.update(CUES_PATH.read_bytes())  # the general reader's distractor cues are data too
    for parser in sorted((*parsers, GENERAL_PARSER), key=lambda p: p.name):
        digest.update(f"\0{parser.name}\0{parser.version}".encode())
    return digest.hexdigest()[:16]


#: Cache key of parse results: changes with any parser's name or version, the ontology tables
#: or the distractor cues.
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


def _claimants(text: str, media_type: str) -> tuple[list[Parser], list[Problem]]:
    claimants: list[Parser] = []
    failures: list[Problem] = []
    for parser in PARSERS:
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
        return _parse_report(
            body, media_type=media_type, file_name=file_name, received_at=received_at,
            metadata=metadata or {},
        )
    except Exception as error:  # the contract is: never raise, whatever the bytes
        return _quarantined(f"internal error while parsing '{file_name}': {error!r}")


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
    received_at: dt.datetime | None,
    metadata: Mapping[str, str],
) -> ParseResult:
    try:
        text = _decode(body, metadata.get("charset"))
    except UndecodableReport as error:
        return _quarantined(str(error))
    page_date = _metadata_date(metadata)
    html = looks_like_html(text, media_type)
    if html:
        page_date = html_page_date(text) or page_date
        text = html_main_text(text)
    # Items and lines are split on "\n"; old Mac and Windows line ends must not merge them.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return _quarantined(f"empty report '{file_name}'")
    claimants, failures = _claimants(text, media_type)
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
    page_date: dt.date | None,
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
