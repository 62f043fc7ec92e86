"""Process start-up for lossledger's own entry points (the console command, the bench).

pandera imports hypothesis, for its data-synthesis strategies, the first time it validates a
frame whenever hypothesis is installed, as it is in a development checkout (``make setup``
installs the test tools). lossledger never synthesises data, and the import cost about 0.1 s of
every run's first validation on the 2-core machine. The entry points hide it: pandera then
takes the branch it takes in an install without hypothesis. Library users, and the tests,
are unaffected.
"""

from __future__ import annotations

import sys

__all__ = ["without_data_synthesis"]


def without_data_synthesis() -> bool:
    """Make ``import hypothesis`` fail in this process, unless it is imported already.

    Returns whether it was hidden (``False`` when something imported it first).
    """
    if "hypothesis" in sys.modules:
        return sys.modules["hypothesis"] is None
    sys.modules["hypothesis"] = None  # type: ignore[assignment]
    return True
