"""The general extraction layer: figures, labels, dates and HTML of real pages, in any layout.

:func:`extract_report` is what :class:`~lossledger.parse.parsers.text.GeneralTextParser` runs.
"""

from __future__ import annotations

from lossledger.parse.extract.extract import Doubt, Figure, extract_figures
from lossledger.parse.extract.report import ExtractedReport, extract_report

__all__ = ["Doubt", "ExtractedReport", "Figure", "extract_figures", "extract_report"]
