"""The console command's start-up: pandera validates without importing hypothesis."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

_SCRIPT = """
import sys
from lossledger._startup import without_data_synthesis
assert without_data_synthesis()
import polars as pl
from schemas.tables import TABLE_MODELS
from lossledger.projection import WarehouseTables  # noqa: F401
frame = pl.DataFrame({"source": ["gs.en"]})
try:
    TABLE_MODELS["sources"].validate(frame, lazy=True)
except Exception as exc:  # the frame lacks columns: pandera ran its checks all the same
    print(type(exc).__name__)
print(sys.modules.get("hypothesis"))
"""


def test_validation_runs_with_hypothesis_hidden() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SchemaErrors", "None"], done.stdout
