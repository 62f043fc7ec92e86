"""``lossledger/parse/month_names.csv`` made again from dateparser's locale data.

    python -m tests.month_names      # rewrites the file from the installed dateparser

The parse stage reads month names from that file rather than from dateparser: loading
dateparser's locales (and dateparser with them) cost the first report of a batch some 0.1 s,
before any parsing process could start. ``tests/test_month_names.py`` checks that the file
still says what the installed dateparser says.
"""

from __future__ import annotations

import csv
import io
import sys

from lossledger.parse.extract.dates import (
    DATE_LANGUAGES,
    MONTH_KEYS,
    MONTH_NAMES_PATH,
    MONTH_ONLY_LANGUAGES,
)

__all__ = ["month_name_rows", "month_names_csv"]


def month_name_rows() -> list[tuple[str, int, str]]:
    """(language, month, name) for every month name dateparser knows in the date languages,
    in the order its locale data lists them."""
    from dateparser.languages.loader import LocaleDataLoader

    loader = LocaleDataLoader()
    rows = []
    for language in (*DATE_LANGUAGES, *MONTH_ONLY_LANGUAGES):
        info = loader.get_locale(language).info
        for number, key in enumerate(MONTH_KEYS, start=1):
            rows += [(language, number, name) for name in info.get(key, ())]
    return rows


def month_names_csv() -> str:
    """The file's text for the installed dateparser."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("language", "month", "name"))
    writer.writerows(month_name_rows())
    return out.getvalue()


if __name__ == "__main__":
    MONTH_NAMES_PATH.write_text(month_names_csv(), encoding="utf-8")
    print(f"wrote {MONTH_NAMES_PATH}", file=sys.stderr)
