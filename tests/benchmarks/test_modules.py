"""Every benchmark module imports: ``make bench`` is not part of ``make test``,
so a module moved under a benchmark would otherwise break only the bench."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import benchmarks

MODULES = sorted(info.name for info in pkgutil.iter_modules(benchmarks.__path__))


class TestModules:
    """The ``benchmarks`` package as ``python -m benchmarks`` loads it."""

    def test_found(self):
        """The package's modules are found (the main table names at least these)."""
        assert {"grants", "replay", "viewer", "viewer_live", "__main__"} <= set(MODULES)

    @pytest.mark.parametrize("name", [m for m in MODULES if m != "__main__"])
    def test_imports(self, name):
        """``benchmarks.<name>`` imports against the current package layout."""
        importlib.import_module(f"benchmarks.{name}")
