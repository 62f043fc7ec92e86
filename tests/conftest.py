from __future__ import annotations

import importlib
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHARED = REPO.parent / "shared"
SEED = FIXTURES / "000_214734c09c7dd4cc.txt"
GS_EN_0130 = FIXTURES / "generalstaff_en_2024-01-30.txt"
GS_EN_0131 = FIXTURES / "generalstaff_en_2024-01-31.txt"


@pytest.fixture(scope="session")
def prefect_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server for the whole session (it costs ~10-15 s to start)."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ.update({
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    })
    os.environ.pop("PREFECT_API_URL", None)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        _own_random_generators()
        yield


#: Modules that draw from the global ``random`` module in the background threads of Prefect's
#: client: the payload of the events websocket's keepalive pings (websockets), reconnect and
#: polling jitter (Prefect). Hypothesis checks that nothing moves the global state while it
#: draws an example, and warned now and then in whichever property test was drawing when a
#: ping went out (HypothesisDeprecationWarning: "Do not use the `random` module inside
#: strategies").
_BACKGROUND_RANDOM_USERS = (
    "websockets.asyncio.connection", "websockets.sync.connection", "websockets.client",
    "websockets.legacy.protocol", "websockets.legacy.client",
    "prefect._internal._observation_delivery", "prefect.utilities.math",
)


def _own_random_generators() -> None:
    """Give each of :data:`_BACKGROUND_RANDOM_USERS` a generator of its own."""
    for name in _BACKGROUND_RANDOM_USERS:
        try:
            module = importlib.import_module(name)
        except ImportError:  # another version of the library: nothing to isolate there
            continue
        if getattr(module, "random", None) is random:
            module.random = random.Random()  # type: ignore[attr-defined]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An empty inbox directory; tests copy reports into ``inbox/<source>/``."""
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def drop(inbox: Path, source: str, *files: Path) -> None:
    """Put report files into ``inbox/<source>/``."""
    target = inbox / source
    target.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy(file, target / file.name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say once, plainly, whether the PostgreSQL half of the suite ran."""
    skipped = [
        r for r in terminalreporter.stats.get("skipped", [])
        if "LOSSLEDGER_TEST_PG" in str(r.longrepr)
    ]
    if skipped:
        terminalreporter.write_line(
            f"PostgreSQL: {len(skipped)} tests SKIPPED (no server): set LOSSLEDGER_TEST_PG="
            "postgresql://... or run them with .ci/run, which starts a throwaway server",
            yellow=True,
        )
    elif os.environ.get("LOSSLEDGER_TEST_PG"):
        terminalreporter.write_line("PostgreSQL: store contract and scale-out tests ran "
                                    f"against {os.environ['LOSSLEDGER_TEST_PG']}", green=True)
