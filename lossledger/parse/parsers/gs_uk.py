"""The General Staff's Ukrainian post ("Загальні бойові втрати противника з ... по ...")."""

from __future__ import annotations

from lossledger.parse.parsers._gs import GeneralStaffParser

__all__ = ["GeneralStaffUkrainianParser"]


class GeneralStaffUkrainianParser(GeneralStaffParser):
    """Ukrainian General Staff posts.

    >>> text = "Загальні бойові втрати противника з 24.02.22 по 31.01.24 орієнтовно склали:\\n"
    >>> parser = GeneralStaffUkrainianParser()
    >>> result = parser.parse(text + "танків ‒ 6310 (+10) од.", media_type="")
    >>> [(o.category, o.total, o.stated_delta) for o in result.observations]
    [('tanks', 6310, 10)]
    """

    name = "gs_uk"
    version = "2"
    family = "gs_uk"
    header_words = r"бойові\s+втрати\s+противника"
    period_words = ("з", "по")
