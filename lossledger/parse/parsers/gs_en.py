"""The General Staff's English post ("The total combat losses of the enemy from ... to ...")."""

from __future__ import annotations

from lossledger.parse.parsers._gs import GeneralStaffParser

__all__ = ["GeneralStaffEnglishParser"]


class GeneralStaffEnglishParser(GeneralStaffParser):
    """English General Staff posts, including the early-2022 wording.

    >>> text = "The total combat losses of the enemy from 24.02.22 to 31.01.24 were:\\n"
    >>> result = GeneralStaffEnglishParser().parse(text + "tanks ‒ 6310 (+10),", media_type="")
    >>> result.report_date, [(o.category, o.total, o.stated_delta) for o in result.observations]
    (datetime.date(2024, 1, 31), [('tanks', 6310, 10)])
    """

    name = "gs_en"
    version = "2"
    family = "gs_en"
    header_words = r"total\s+combat\s+losses\s+of\s+the\s+enemy"
    period_words = ("from", "to")
