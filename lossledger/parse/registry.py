"""The parsers a home reads with: the built-in ones and the formats declared in TOML files.

The registry of a home is :data:`~lossledger.parse.parsers.PARSERS` plus one
:class:`~lossledger.parse.formats.DeclaredFormatParser` per valid ``*.toml`` file in
``<home>/formats/`` and in the checkout's bundled ``formats/``. Its fingerprint keys the parse
cache and the published warehouse, so adding, editing or removing a format file re-parses every
report on the next run, the ones quarantined before included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lossledger.parse.formats import BUNDLED_FORMATS, DeclaredFormatParser, load_formats
from lossledger.parse.parsers import PARSERS, PARSERS_FINGERPRINT, Parser

__all__ = ["Registry", "format_directories", "registry_for"]


@dataclass(frozen=True, slots=True)
class Registry:
    """The parsers of a home, their fingerprint, and one line per unusable format file."""

    parsers: tuple[Parser, ...]
    fingerprint: str
    errors: tuple[str, ...] = ()

    @property
    def declared(self) -> tuple[DeclaredFormatParser, ...]:
        """The declared formats among the parsers."""
        return tuple(p for p in self.parsers if isinstance(p, DeclaredFormatParser))


def format_directories(home: Path) -> tuple[Path, ...]:
    """Where a home's declared formats are read from: the checkout's bundled ones, then the
    home's own."""
    return (BUNDLED_FORMATS, Path(home) / "formats")


def registry_for(
    home: Path,
    *,
    builtin: Sequence[Parser] = PARSERS,
    builtin_fingerprint: str = PARSERS_FINGERPRINT,
    directories: Sequence[Path] | None = None,
) -> Registry:
    """The registry of ``home``.

    With no declared formats its fingerprint is the built-in parsers' own.

    >>> import tempfile
    >>> registry = registry_for(Path(tempfile.mkdtemp()), directories=())
    >>> registry.fingerprint == PARSERS_FINGERPRINT, registry.errors
    (True, ())
    """
    folders = format_directories(home) if directories is None else tuple(directories)
    formats, errors = load_formats(folders, taken=[parser.name for parser in builtin])
    if not formats:
        return Registry(tuple(builtin), builtin_fingerprint, errors)
    digest = hashlib.sha256(builtin_fingerprint.encode())
    for declared in sorted(formats, key=lambda f: f.name):
        digest.update(f"\0{declared.name}\0{declared.digest}".encode())
    parsers = (*builtin, *(DeclaredFormatParser(declared) for declared in formats))
    return Registry(parsers, digest.hexdigest()[:16], errors)
