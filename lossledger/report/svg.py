"""Vega-Lite specs to SVG with vl-convert, through a cache of unchanged charts.

vl-convert runs Vega in an embedded JavaScript runtime. Its first conversion in a process
starts that runtime and loads the fonts (~0.8 s); later ones cost what the chart costs
(0.05-0.4 s each at x1). It holds the GIL meanwhile: a warm-up in a thread does not overlap
other work of the process. What a cache saves is the charts a day did not change (the
quarantine or the runs chart on most days, and every chart when nothing changed):
:class:`SvgCache` keeps each SVG under the hash of its whole spec, data included.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import vl_convert as vlc

__all__ = ["SvgCache", "render_svg", "spec_key"]

def spec_key(spec: dict[str, Any]) -> str:
    """A chart's cache key: the SHA-256 of its spec (data included) and vl-convert's version.

    >>> spec_key({"mark": "bar"}) == spec_key({"mark": "bar"})
    True
    >>> spec_key({"mark": "bar"}) == spec_key({"mark": "line"})
    False
    """
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"vl-convert {vlc.__version__}\n".encode())
    digest.update(text.encode())
    return digest.hexdigest()


class SvgCache:
    """Rendered SVGs in a directory, one file per spec key.

    Parameters
    ----------
    directory
        Where the SVGs are kept (created on the first store).

    Only the SVGs a report used are worth keeping: :meth:`keep_only` removes the others.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.used: set[str] = set()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.svg"

    def get(self, key: str) -> str | None:
        """The cached SVG of ``key``, or ``None``."""
        self.used.add(key)
        try:
            return self._path(key).read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def put(self, key: str, svg: str) -> None:
        """Keep ``svg`` under ``key`` (written aside, then renamed: never half a file)."""
        self.used.add(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        aside = self.directory / f".{key}.tmp"
        aside.write_text(svg, encoding="utf-8")
        aside.replace(self._path(key))

    def keep_only(self, keys: set[str]) -> None:
        """Remove every cached SVG whose key is not in ``keys``."""
        if not self.directory.is_dir():
            return
        for path in self.directory.glob("*.svg"):
            if path.stem not in keys:
                path.unlink(missing_ok=True)


def render_svg(spec: dict[str, Any], *, cache: SvgCache | None = None) -> str:
    """Render a Vega-Lite spec to a standalone SVG string, through ``cache`` when given."""
    if cache is None:
        return vlc.vegalite_to_svg(spec)
    key = spec_key(spec)
    svg = cache.get(key)
    if svg is None:
        svg = vlc.vegalite_to_svg(spec)
        cache.put(key, svg)
    return svg
