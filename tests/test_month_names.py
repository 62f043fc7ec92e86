"""The month names the parse stage reads are dateparser's, without loading dateparser."""

from __future__ import annotations

import subprocess
import sys

from lossledger.parse.extract.dates import MONTH_NAMES_PATH, month_number, read_date_text
from tests.month_names import month_names_csv


def test_the_month_names_file_says_what_the_installed_dateparser_says() -> None:
    assert MONTH_NAMES_PATH.read_text(encoding="utf-8") == month_names_csv(), (
        "lossledger/parse/month_names.csv differs from dateparser's locale data: "
        "run `python -m tests.month_names` and review the change"
    )


def test_month_names_of_every_date_language_and_of_the_count_only_ones() -> None:
    assert [month_number(word) for word in
            ("листопада", "ноября", "Juli", "août", "lutego", "settembre", "Şubat", "febrero",
             "Sept.", "tanks")] == [11, 11, 7, 8, 2, 9, 2, 2, 9, None]


def test_reading_a_date_with_a_month_name_does_not_load_dateparser() -> None:
    code = (
        "import sys\n"
        "from lossledger.parse.extract.dates import read_date_text\n"
        "assert read_date_text('7 квітня 2024') == (2024, 4, 7)\n"
        "assert read_date_text('March 19, 2025') == (2025, 3, 19)\n"
        "print(any(name.split('.')[0] == 'dateparser' for name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
    # A form the fast path does not know still goes to dateparser.
    assert read_date_text("2022 July 4") == (2022, 7, 4)
