"""Declared formats: a history file of a new layout made readable by a TOML file, not Python.

A *declared format* describes a JSON or CSV history file (one record per day): where the day
records are, which field holds the date and how it is written, and which fields hold which
category's cumulative total (and, optionally, its stated change). Each ``*.toml`` file in
``<home>/formats/`` (and in ``formats/`` of the checkout) is one format::

    name = "ratings-json"             # recorded as the parser of every observation
    kind = "json"                     # json | csv
    records = "data"                  # dot path to the list of day records ("" = top level)
    date_field = "date"
    date_format = "%d.%m.%Y"          # strftime; ISO dates when omitted
    source_kind = "history"           # official | api | ticker | history
    [columns]                         # record field -> category code
    apv = "armored_vehicles"

Optional keys: ``delimiter`` (CSV; sniffed from ``, ; TAB |`` when omitted), ``ignore`` (fields
that are known but carry no figure, so they are not listed as unmapped), ``[deltas]`` (field ->
category code of a stated daily change) and ``min_fields`` (how many mapped fields a file must
have to match; half of ``[columns]`` by default). Fields may be dot paths into nested records
(``"stats.tanks" = "tanks"``).

A declared format is a :class:`~lossledger.parse.parsers.base.Parser` like the built-in ones:
it claims a file when its shape fits, and two claimants are an ambiguity, quarantined. Its
version is a hash of its file, so editing the file re-parses every report on the next run.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

from lossledger.parse.ontology import CATEGORY_CODES
from lossledger.parse.parsers._utils import finished_result, make_result
from lossledger.parse.parsers.base import (
    SOURCE_KINDS,
    ParsedObservation,
    Parser,
    ParseResult,
    Problem,
    SourceKind,
)

__all__ = [
    "BUNDLED_FORMATS",
    "DeclaredFormat",
    "DeclaredFormatParser",
    "FormatError",
    "load_format",
    "load_formats",
]

#: Formats shipped with the checkout (absent from an installed wheel: then none are bundled).
BUNDLED_FORMATS = Path(__file__).resolve().parents[2] / "formats"

_KINDS = ("json", "csv")
_REQUIRED = ("name", "kind", "date_field", "columns")
_KNOWN = frozenset(
    {*_REQUIRED, "records", "date_format", "source_kind", "delimiter", "ignore", "deltas",
     "min_fields", "description"}
)
_DELIMITERS = (",", ";", "\t", "|")
#: How many leading records are looked at to decide whether a file has a format's shape.
_SHAPE_RECORDS = 20


class FormatError(ValueError):
    """A format file that cannot be used; the message is one line naming the file and key."""


@dataclass(frozen=True, slots=True)
class DeclaredFormat:
    """What a format file declares (validated)."""

    name: str
    kind: str
    date_field: str
    columns: Mapping[str, str]
    path: Path
    digest: str
    records: str = ""
    date_format: str | None = None
    source_kind: SourceKind = "history"
    delimiter: str | None = None
    ignore: frozenset[str] = field(default_factory=frozenset)
    deltas: Mapping[str, str] = field(default_factory=dict)
    min_fields: int = 1

    @property
    def fields(self) -> frozenset[str]:
        """Every field the format knows: the date, the figures, the deltas and the ignored."""
        return frozenset({self.date_field, *self.columns, *self.deltas, *self.ignore})


def _fail(path: Path, key: str | None, message: str) -> FormatError:
    where = f"{path}: key '{key}'" if key else f"{path}"
    return FormatError(f"{where}: {message}")


def _string(path: Path, table: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise _fail(path, key, f"must be a string, got {value!r}")
    return value


def _code_map(path: Path, table: Mapping[str, Any], key: str) -> dict[str, str]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise _fail(path, key, "must be a table of field = \"category code\"")
    mapping: dict[str, str] = {}
    for field_name, code in value.items():
        if code not in CATEGORY_CODES:
            raise _fail(
                path, f"{key}.{field_name}",
                f"unknown category code {code!r} (known: {', '.join(CATEGORY_CODES)})",
            )
        mapping[field_name] = code
    return mapping


def load_format(path: Path) -> DeclaredFormat:
    """Read and validate one format file.

    Raises
    ------
    FormatError
        With one line naming the file and the offending key.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "x.toml").write_text(
    ...     'name = "x"\\nkind = "csv"\\ndate_field = "day"\\n[columns]\\nT = "tanks"\\n')
    >>> load_format(folder / "x.toml").columns
    {'T': 'tanks'}
    >>> _ = (folder / "y.toml").write_text(
    ...     'name = "y"\\nkind = "xml"\\ndate_field = "d"\\n[columns]\\nT = "tanks"\\n')
    >>> load_format(folder / "y.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    lossledger.parse.formats.FormatError: .../y.toml: key 'kind': unknown kind 'xml' (json or csv)
    """
    try:
        raw = path.read_bytes()
        table = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(path, None, f"cannot read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise _fail(path, None, f"not valid TOML: {error}") from error
    for key in _REQUIRED:
        if key not in table:
            raise _fail(path, key, "is required")
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        raise _fail(path, unknown[0], f"unknown key (known: {', '.join(sorted(_KNOWN))})")
    name = _string(path, table, "name").strip()
    if not name or any(ch.isspace() for ch in name):
        raise _fail(path, "name", f"must be one word, got {name!r}")
    kind = _string(path, table, "kind")
    if kind not in _KINDS:
        raise _fail(path, "kind", f"unknown kind {kind!r} (json or csv)")
    source_kind = _string(path, table, "source_kind", "history")
    if source_kind not in SOURCE_KINDS:
        raise _fail(
            path, "source_kind", f"unknown source kind {source_kind!r} ({', '.join(SOURCE_KINDS)})"
        )
    date_format = table.get("date_format")
    if date_format is not None:
        date_format = _string(path, table, "date_format")
        if "%" not in date_format:
            raise _fail(path, "date_format", f"not a strftime format: {date_format!r}")
    delimiter = table.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise _fail(path, "delimiter", f"must be one character, got {delimiter!r}")
    if delimiter is not None and kind != "csv":
        raise _fail(path, "delimiter", "only a csv format has a delimiter")
    ignore = table.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(item, str) for item in ignore):
        raise _fail(path, "ignore", "must be a list of field names")
    columns = _code_map(path, table, "columns")
    if not columns:
        raise _fail(path, "columns", "maps no field to a category")
    deltas = _code_map(path, table, "deltas")
    default_min = max(1, math.ceil(len(columns) / 2))
    min_fields = table.get("min_fields", default_min)
    if not isinstance(min_fields, int) or not 1 <= min_fields <= len(columns):
        raise _fail(path, "min_fields", f"must be a whole number from 1 to {len(columns)}")
    return DeclaredFormat(
        name=name,
        kind=kind,
        date_field=_string(path, table, "date_field"),
        columns=columns,
        path=path,
        digest=hashlib.sha256(raw).hexdigest()[:12],
        records=_string(path, table, "records", ""),
        date_format=date_format,
        source_kind=cast(SourceKind, source_kind),
        delimiter=delimiter,
        ignore=frozenset(ignore),
        deltas=deltas,
        min_fields=min_fields,
    )


def load_formats(
    directories: Iterable[Path], *, taken: Iterable[str] = ()
) -> tuple[tuple[DeclaredFormat, ...], tuple[str, ...]]:
    """Every valid format in ``directories`` (``*.toml``, by file name), and one line per error.

    A name already ``taken`` (by a built-in parser or an earlier file) is an error for the
    later file; a bad file never stops the others from loading.
    """
    formats: list[DeclaredFormat] = []
    errors: list[str] = []
    names = set(taken)
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                declared = load_format(path)
            except FormatError as error:
                errors.append(str(error))
                continue
            if declared.name in names:
                errors.append(str(_fail(path, "name", f"{declared.name!r} is already taken")))
                continue
            names.add(declared.name)
            formats.append(declared)
    return tuple(formats), tuple(errors)


# --- reading files of a declared shape -------------------------------------------------------


def _lookup(record: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """The value at a dot path, and whether the path exists (a field may contain a dot)."""
    if dotted in record:
        return True, record[dotted]
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _leaf_fields(record: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _leaf_fields(value, f"{name}.")
        else:
            yield name


def _json_records(text: str, path: str) -> list[Mapping[str, Any]] | None:
    if text.lstrip("\ufeff \t\r\n")[:1] not in ("{", "["):
        return None
    try:
        node: Any = json.loads(text.lstrip("\ufeff"))
    except ValueError:
        return None
    for part in path.split(".") if path else ():
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, list) or not node:
        return None
    return [record for record in node if isinstance(record, Mapping)] or None


def _sniff_delimiter(first_line: str, fmt: DeclaredFormat) -> str | None:
    candidates = (fmt.delimiter,) if fmt.delimiter else _DELIMITERS
    for delimiter in candidates:
        header = [cell.strip() for cell in first_line.split(delimiter)]
        if fmt.date_field in header:
            return delimiter
    return None


def _csv_records(text: str, fmt: DeclaredFormat) -> list[Mapping[str, Any]] | None:
    body = text.lstrip("\ufeff")
    first_line = body.split("\n", 1)[0]
    delimiter = _sniff_delimiter(first_line, fmt)
    if delimiter is None:
        return None
    reader = csv.reader(io.StringIO(body), delimiter=delimiter)
    header = [cell.strip() for cell in next(reader, [])]
    records: list[Mapping[str, Any]] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        record: dict[str, Any] = dict(zip(header, (cell.strip() for cell in row), strict=False))
        if len(row) != len(header):
            record["\0cells"] = (len(row), len(header))
        records.append(record)
    return records or [dict.fromkeys(header, "")]


def _count(value: Any, *, signed: bool = False) -> int | None:
    """A JSON or CSV value as a whole count; ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        digits = value.strip()
        sign = -1 if signed and digits.startswith("-") else 1
        digits = digits.lstrip("+-") if signed else digits
        if not (digits.isdecimal() and digits.isascii()):
            return None
        number = sign * int(digits)
    else:
        return None
    return number if signed or number >= 0 else None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class DeclaredFormatParser(Parser):
    """A parser made of a :class:`DeclaredFormat`: its name is the format's, its version the
    hash of its file.

    >>> fmt = DeclaredFormat(name="demo", kind="json", date_field="d", columns={"t": "tanks"},
    ...                      path=Path("demo.toml"), digest="abc", records="rows",
    ...                      date_format="%d.%m.%Y")
    >>> parser = DeclaredFormatParser(fmt)
    >>> text = '{"rows": [{"d": "31.01.2024", "t": 6310}]}'
    >>> parser.claims(text, media_type="application/json")
    True
    >>> [(o.date.isoformat(), o.category, o.total) for o in parser.parse(text,
    ...     media_type="application/json").observations]
    [('2024-01-31', 'tanks', 6310)]
    """

    name: ClassVar[str]  # set per instance (below); ClassVar only for the Parser contract
    version: ClassVar[str]
    source_kind: ClassVar[SourceKind]

    def __init__(self, declared: DeclaredFormat) -> None:
        self.declared = declared
        # Instance attributes shadow the ClassVars the base class declares.
        self.name = declared.name  # type: ignore[misc]
        self.version = declared.digest  # type: ignore[misc]
        self.source_kind = declared.source_kind  # type: ignore[misc]

    def _records(self, text: str) -> list[Mapping[str, Any]] | None:
        if self.declared.kind == "json":
            return _json_records(text, self.declared.records)
        return _csv_records(text, self.declared)

    def _fits(self, records: Sequence[Mapping[str, Any]]) -> bool:
        present: set[str] = set()
        has_date = False
        for record in records[:_SHAPE_RECORDS]:
            has_date = has_date or _lookup(record, self.declared.date_field)[0]
            present.update(f for f in self.declared.columns if _lookup(record, f)[0])
        return has_date and len(present) >= self.declared.min_fields

    def claims(self, text: str, *, media_type: str) -> bool:
        records = self._records(text)
        return records is not None and self._fits(records)

    def parse(self, text: str, *, media_type: str) -> ParseResult:
        records = self._records(text)
        if records is None or not self._fits(records):
            problem = Problem(f"not a file of the declared format {self.name!r}")
            return make_result(self, None, (), (problem,))
        observations: list[ParsedObservation] = []
        problems: list[Problem] = []
        unmapped: set[str] = set()
        for number, record in enumerate(records, start=1):
            unmapped.update(f for f in _leaf_fields(record) if f not in self.declared.fields)
            self._read_record(number, record, observations, problems)
        unmapped.discard("\0cells")
        if unmapped:
            problems.append(Problem(
                f"unmapped fields in format {self.name!r}: {', '.join(sorted(unmapped))}"
            ))
        return finished_result(self, None, observations, problems, document="history file")

    def _date(self, raw: Any) -> dt.date | None:
        if not isinstance(raw, str):
            return None
        text = raw.strip()
        try:
            if self.declared.date_format:
                return dt.datetime.strptime(text, self.declared.date_format).date()
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None

    def _read_record(
        self,
        number: int,
        record: Mapping[str, Any],
        observations: list[ParsedObservation],
        problems: list[Problem],
    ) -> None:
        raw_date = _lookup(record, self.declared.date_field)[1]
        date = self._date(raw_date)
        if date is None:
            problems.append(Problem(f"record {number}: invalid date {raw_date!r}"))
            return
        if "\0cells" in record:
            cells, expected = record["\0cells"]
            problems.append(Problem(f"record {number}: {cells} cells, expected {expected}", date))
            return
        stated = self._deltas(record, date, problems)
        for field_name, code in self.declared.columns.items():
            found, value = _lookup(record, field_name)
            if not found or _empty(value):
                continue
            total = _count(value)
            if total is None:
                problems.append(
                    Problem(f"malformed figure for '{field_name}': {value!r}", date, code)
                )
                continue
            observations.append(
                ParsedObservation(date, code, total, stated.get(code), None, field_name)
            )

    def _deltas(
        self, record: Mapping[str, Any], date: dt.date, problems: list[Problem]
    ) -> dict[str, int]:
        stated: dict[str, int] = {}
        for field_name, code in self.declared.deltas.items():
            found, value = _lookup(record, field_name)
            if not found or _empty(value):
                continue
            delta = _count(value, signed=True)
            if delta is None:
                problems.append(
                    Problem(f"malformed change for '{field_name}': {value!r}", date, code)
                )
            else:
                stated[code] = delta
        return stated
