"""The real-world corpus of issue 10: reports as outlets publish them, around real figures.

``days`` (the vendored real figures), ``vocab`` (labels, months), ``generate`` (the reports and
their exact expectations), ``harness`` (the pipeline run and the scores).
"""

from __future__ import annotations

__all__: list[str] = []
