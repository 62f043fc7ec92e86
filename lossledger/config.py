"""User configuration: the consensus policy, from ``lossledger.toml`` or ``[tool.lossledger]``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from lossledger.parse.parsers.base import SOURCE_KINDS
from lossledger.reconcile.consensus import ReconcilePolicy

__all__ = ["ConfigError", "load_policy"]


class ConfigError(Exception):
    """A configuration file that cannot be used."""


def load_policy(home: Path, *, cwd: Path | None = None) -> ReconcilePolicy:
    """The consensus policy: ``<home>/lossledger.toml``, else ``lossledger.toml`` or the
    ``[tool.lossledger]`` table of ``pyproject.toml`` in ``cwd``, else the defaults.

    >>> load_policy(Path("/nonexistent")).priority
    ('official', 'api', 'ticker', 'history')
    """
    settings = _first_settings(home, cwd or Path.cwd())
    priority = settings.get("priority", list(SOURCE_KINDS))
    unknown = sorted(set(priority) - set(SOURCE_KINDS))
    if unknown or len(set(priority)) != len(priority):
        raise ConfigError(
            f"priority must list distinct source kinds from {', '.join(SOURCE_KINDS)}; "
            f"got {priority}"
        )
    # Kinds left out of the configured order rank after the ones listed, in default order.
    rest = [kind for kind in SOURCE_KINDS if kind not in priority]
    return ReconcilePolicy(priority=(*priority, *rest))


def _first_settings(home: Path, cwd: Path) -> dict[str, Any]:
    for path in (home / "lossledger.toml", cwd / "lossledger.toml"):
        if path.is_file():
            return _read(path)
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        return _read(pyproject).get("tool", {}).get("lossledger", {})
    return {}


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
