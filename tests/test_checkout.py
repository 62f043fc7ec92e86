"""Where a deployment's flow run starts: the checkout recorded at deploy time, or the worker's
``LOSSLEDGER_CHECKOUT``; else one line saying what to set. (On a real server, every worker of
``tests/prefect_server.py`` is started as Prefect prints it, without the variable.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from flows.checkout import CheckoutNotFoundError, enter_checkout, record_checkout
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _keep_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(os.getcwd())  # restored after the test, whatever it changed to
    monkeypatch.delenv("LOSSLEDGER_CHECKOUT", raising=False)


def test_the_checkout_recorded_at_deploy_time_is_entered_without_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    recorded = record_checkout()["directory"]
    assert recorded == str(REPO)
    monkeypatch.chdir(tmp_path)  # a worker started anywhere
    assert enter_checkout(recorded) == {"directory": str(REPO)}
    assert Path.cwd() == REPO


def test_the_workers_variable_wins_over_the_recorded_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOSSLEDGER_CHECKOUT", str(REPO))
    monkeypatch.chdir(tmp_path)
    enter_checkout("/checkout/on/another/machine")
    assert Path.cwd() == REPO


@pytest.mark.parametrize("env", [None, "/srv/nothing-here"])
def test_no_checkout_fails_at_once_in_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    if env:
        monkeypatch.setenv("LOSSLEDGER_CHECKOUT", env)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckoutNotFoundError) as failure:
        enter_checkout(str(tmp_path / "gone"))
    message = str(failure.value)
    assert "\n" not in message and "LOSSLEDGER_CHECKOUT=/path/to/lossledger" in message
    assert (env or str(tmp_path / "gone")) in message
    assert Path.cwd() == tmp_path


def test_prefect_yaml_records_the_checkout_and_enters_it() -> None:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert config["build"] == [{"flows.checkout.record_checkout": {"id": "checkout"}}]
    assert config["pull"] == [
        {"flows.checkout.enter_checkout": {"recorded": "{{ checkout.directory }}"}}]
