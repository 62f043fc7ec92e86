"""HTML pages: main text through trafilatura, the page's own date through htmldate.

Only pages that look like HTML come here. A fragment trafilatura returns nothing for (a bare
``<ul>`` of figures) falls back to block-aware tag stripping.
"""

from __future__ import annotations

import datetime as dt
import functools
import html as html_lib
import re
from typing import Any

__all__ = ["html_main_text", "html_page_date"]

_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6]|p|div|li|tr|h[1-6])\b[^>]*>", re.I)
_CELL = re.compile(r"<\s*/t[dh]\s*>", re.I)
_TAG = re.compile(r"<[^>]*>")


def _strip(markup: str) -> str:
    text = _DROP.sub(" ", markup)
    text = _CELL.sub(" ", _BREAK.sub("\n", text))
    return html_lib.unescape(_TAG.sub("", text))


@functools.cache
def _extractor() -> Any:
    """trafilatura's options, built once (it reads its config file's values each time)."""
    from trafilatura.settings import Extractor

    return Extractor(output_format="txt", fast=True, recall=True, comments=False, tables=True,
                     dedup=False, with_metadata=False)


def _digits(text: str) -> int:
    return sum(map(str.isdigit, text))


def html_main_text(markup: str) -> str:
    """The page's main text (trafilatura), or the stripped markup when it finds none.

    >>> html_main_text("<ul><li>Panzer: 6310</li><li>U-Boote:&nbsp;1</li></ul>").split()
    ['Panzer:', '6310', 'U-Boote:', '1']
    """
    try:
        import trafilatura

        # The same options as extract(markup, include_tables=True, include_comments=False,
        # favor_recall=True, deduplicate=False, with_metadata=False, fast=True).
        text = trafilatura.extract(markup, options=_extractor())
    except Exception:  # a library failure must not lose the page: strip it instead
        text = None
    stripped = _strip(markup)
    # trafilatura drops short pages and lists it judges boilerplate: keep what has more digits.
    if not text or _digits(text) < _digits(stripped) / 2:
        return stripped
    return text


def html_page_date(markup: str) -> dt.date | None:
    """The page's own publication date (htmldate, fast mode), or ``None``."""
    try:
        from htmldate import find_date

        found = find_date(
            markup, extensive_search=False, original_date=True, outputformat="%Y-%m-%d"
        )
    except Exception:
        return None
    return dt.date.fromisoformat(found) if found else None
