"""``sources.toml``: which sources to fetch, and how politely.

One ``[[sources]]`` table per source; top-level keys set what every source shares::

    user_agent = "lossledger/0.1.0 (+mailto:me@example.org)"   # optional
    per_host = 2                    # requests in flight per host, all sources together

    [[sources]]
    name = "statistics-api"         # becomes the events' source
    url = "https://example.org/api/v2/statistics/{date}"   # {date} = YYYY-MM-DD, optional

Every error names the file and the key, on one line.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lossledger.config import ConfigError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_USER_AGENT",
    "KINDS",
    "SourceConfig",
    "SourcesConfig",
    "SourcesConfigError",
    "load_sources",
    "parse_duration",
    "parse_sources",
    "sources_path",
]

#: 20 MB: no daily report comes near it; a larger body is refused, not truncated.
DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_USER_AGENT = "lossledger/0.1.0 (daily loss-report fetcher; python-httpx)"
#: What a source serves; ``auto`` trusts the server's Content-Type, then the bytes.
KINDS: dict[str, str | None] = {
    "auto": None,
    "json": "application/json",
    "html": "text/html",
    "text": "text/plain",
    "csv": "text/csv",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SOURCE_KEYS = {
    "name", "url", "kind", "headers", "timeout_s", "max_bytes", "every", "since", "retries",
    "backoff_s", "enabled",
}
_TOP_KEYS = {"user_agent", "per_host", "max_redirects", "max_retry_after_s", "sources"}


class SourcesConfigError(ConfigError):
    """``sources.toml`` cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One source: where to fetch, and how."""

    name: str
    url: str
    kind: str = "auto"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0
    """Per attempt: connecting, each read, and the whole body."""
    max_bytes: int = DEFAULT_MAX_BYTES
    every: float = 0.0
    """Seconds: a source fetched less than this long ago is skipped (0: every run)."""
    since: dt.date | None = None
    """A ``{date}`` source: the first day to fetch when catching up (default: today only)."""
    retries: int = 3
    """Further attempts after a transient failure (connect error, timeout, 429, 5xx)."""
    backoff_s: float = 1.0
    """The first retry's delay; doubled on each further one."""
    enabled: bool = True

    @property
    def dated(self) -> bool:
        """Whether the URL names a day (``{date}``): one request per day."""
        return "{date}" in self.url

    @property
    def host(self) -> str:
        return urlsplit(self.url.replace("{date}", "d")).netloc.lower()

    def url_for(self, day: dt.date | None) -> str:
        """The URL to ask for ``day`` (ignored by an undated source).

        >>> SourceConfig(name="a", url="https://h/x/{date}.json").url_for(dt.date(2026, 1, 2))
        'https://h/x/2026-01-02.json'
        """
        if not self.dated:
            return self.url
        assert day is not None, "a {date} source needs a day"
        return self.url.replace("{date}", day.isoformat())


@dataclass(frozen=True, slots=True)
class SourcesConfig:
    """The whole file: the sources and what they share."""

    sources: tuple[SourceConfig, ...] = ()
    user_agent: str = DEFAULT_USER_AGENT
    per_host: int = 2
    """Requests in flight to one host at a time, all sources of that host together."""
    max_redirects: int = 5
    max_retry_after_s: float = 300.0
    """A 429/503 asking to wait longer than this is recorded as a failure, not waited for."""
    path: Path | None = None

    def named(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise SourcesConfigError(f"{self.path}: no source named {name!r} (configured: {known})")


def sources_path(home: Path) -> Path:
    """Where a home keeps its sources: ``<home>/sources.toml``."""
    return Path(home) / "sources.toml"


def load_sources(home: Path) -> SourcesConfig:
    """Read ``<home>/sources.toml``; no file means no sources.

    >>> load_sources(Path("/nonexistent")).sources
    ()
    """
    path = sources_path(home)
    if not path.is_file():
        return SourcesConfig(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SourcesConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_sources(data, path=path)


def parse_sources(data: Mapping[str, Any], *, path: Path | None = None) -> SourcesConfig:
    """Check a parsed ``sources.toml`` and fill in the defaults.

    >>> config = parse_sources({"sources": [{"name": "a", "url": "https://h/{date}"}]})
    >>> config.sources[0].timeout_s, config.sources[0].dated, config.per_host
    (30.0, True, 2)
    >>> parse_sources({"sources": [{"name": "a", "url": "ftp://h/x"}]}, path=Path("s.toml"))
    Traceback (most recent call last):
    ...
    lossledger.sources.config.SourcesConfigError: s.toml: sources[1].url: must be an http(s) URL, got 'ftp://h/x'
    """  # noqa: E501
    where = str(path) if path is not None else "sources.toml"
    _no_unknown_keys(data, _TOP_KEYS, where, "")
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list) or not all(isinstance(s, dict) for s in raw_sources):
        raise SourcesConfigError(f"{where}: sources: must be [[sources]] tables")
    sources = tuple(
        _source(raw, where, f"sources[{n}]") for n, raw in enumerate(raw_sources, start=1)
    )
    names = [s.name for s in sources]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SourcesConfigError(f"{where}: sources.name: {repeated[0]!r} is used twice")
    return SourcesConfig(
        sources=sources,
        user_agent=_string(data, "user_agent", where, "", DEFAULT_USER_AGENT),
        per_host=int(_number(data, "per_host", where, "", 2, integer=True)),
        max_redirects=int(_number(data, "max_redirects", where, "", 5, integer=True)),
        max_retry_after_s=_number(data, "max_retry_after_s", where, "", 300.0),
        path=path,
    )


def parse_duration(text: str | float) -> float:
    """Seconds in ``"30s"``, ``"15m"``, ``"6h"``, ``"1d"`` or a plain number.

    >>> parse_duration("6h"), parse_duration(90), parse_duration("1d")
    (21600.0, 90.0, 86400.0)
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    found = _DURATION.match(str(text))
    if found is None:
        raise ValueError(f"not a duration like 30s, 15m, 6h or 1d: {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def _source(raw: Mapping[str, Any], where: str, key: str) -> SourceConfig:
    _no_unknown_keys(raw, _SOURCE_KEYS, where, key + ".")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SourcesConfigError(
            f"{where}: {key}.name: required, letters, digits, '.', '_' or '-', got {name!r}"
        )
    url = raw.get("url")
    parts = urlsplit(url.replace("{date}", "d")) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise SourcesConfigError(f"{where}: {key}.url: must be an http(s) URL, got {url!r}")
    leftover = url.replace("{date}", "")  # type: ignore[union-attr]
    if "{" in leftover or "}" in leftover:
        raise SourcesConfigError(
            f"{where}: {key}.url: the only placeholder is {{date}}, got {url!r}"
        )
    kind = raw.get("kind", "auto")
    if kind not in KINDS:
        raise SourcesConfigError(
            f"{where}: {key}.kind: one of {', '.join(KINDS)}, got {kind!r}"
        )
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise SourcesConfigError(f"{where}: {key}.headers: must be a table of strings")
    return SourceConfig(
        name=name,
        url=url,  # type: ignore[arg-type]
        kind=kind,
        headers=dict(headers),
        timeout_s=_number(raw, "timeout_s", where, key + ".", 30.0),
        max_bytes=int(_number(raw, "max_bytes", where, key + ".", DEFAULT_MAX_BYTES,
                              integer=True)),
        every=_duration(raw, where, key),
        since=_date(raw, where, key),
        retries=int(_number(raw, "retries", where, key + ".", 3, integer=True, zero=True)),
        backoff_s=_number(raw, "backoff_s", where, key + ".", 1.0, zero=True),
        enabled=_boolean(raw, "enabled", where, key + ".", True),
    )


def _no_unknown_keys(raw: Mapping[str, Any], known: set[str], where: str, prefix: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SourcesConfigError(
            f"{where}: {prefix}{unknown[0]}: unknown key (known: {', '.join(sorted(known))})"
        )


def _number(
    raw: Mapping[str, Any], name: str, where: str, prefix: str, default: float,
    *, integer: bool = False, zero: bool = False,
) -> float:
    value = raw.get(name, default)
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or value < 0 or (value == 0 and not zero):
        wanted = "an integer" if integer else "a number"
        sign = ">= 0" if zero else "> 0"
        raise SourcesConfigError(f"{where}: {prefix}{name}: must be {wanted} {sign}, "
                                 f"got {value!r}")
    return float(value)


def _string(raw: Mapping[str, Any], name: str, where: str, prefix: str, default: str) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise SourcesConfigError(f"{where}: {prefix}{name}: must be a non-empty string, "
                                 f"got {value!r}")
    return value


def _boolean(raw: Mapping[str, Any], name: str, where: str, prefix: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise SourcesConfigError(f"{where}: {prefix}{name}: must be true or false, "
                                 f"got {value!r}")
    return value


def _duration(raw: Mapping[str, Any], where: str, key: str) -> float:
    try:
        return parse_duration(raw.get("every", 0))
    except ValueError as exc:
        raise SourcesConfigError(f"{where}: {key}.every: {exc}") from None


def _date(raw: Mapping[str, Any], where: str, key: str) -> dt.date | None:
    value = raw.get("since")
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise SourcesConfigError(f"{where}: {key}.since: must be a date (YYYY-MM-DD), got {value!r}")
