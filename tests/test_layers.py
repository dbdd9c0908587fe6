"""The package layers: every module imports only from its own layer or one below.

The order is written once, here (``LAYERS``), bottom first. A module belongs
to the layer of the longest entry naming it or a package above it; a module
no entry names is an error too, so a new package has to be placed. Imports
inside functions and under ``TYPE_CHECKING`` count: an arrow is an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import broker

LAYERS: tuple[tuple[str, ...], ...] = (
    # Domain types, errors, records, time, ids, the state folder's layout.
    (
        "broker",
        "broker.typing",
        "broker.errors",
        "broker.randomness",
        "broker.compact_json",
        "broker.clock",
        "broker.models",
        "broker.events",
        "broker.ids",
        "broker.state",
        "broker.metrics",
        "broker.shutdown",
    ),
    ("broker.keys", "broker.sshcert", "broker.ca"),
    # Redaction and logging sit low: every layer above logs through them.
    ("broker.audit",),
    # Input validation refuses ids that hold personal data, as the redactor reads it.
    ("broker.validate",),
    ("broker.policy",),
    ("broker.config",),
    ("broker.auth",),
    ("broker.store",),
    ("broker.egress",),
    ("broker.recording",),
    ("broker.gateway",),
    # The browser viewer serves view sessions over the gateway's link and relay.
    ("broker.viewer",),
    ("broker.demo",),
    ("broker.aws",),
    # Notifications of consent requests: webhooks, and SNS (via broker.aws) in AWS mode.
    ("broker.notify",),
    ("broker.service",),
    ("broker.api",),
    ("broker.runtime",),
    ("broker.cli", "broker.__main__"),
)
"""Bottom first. Entries of one tuple form one layer and may import each other."""

EDGES: dict[str, tuple[str, ...]] = {
    "boto3": ("broker.aws",),
    "botocore": ("broker.aws",),
    "paramiko": (),
}
"""Third-party packages only these packages may import (none: a test-only dependency)."""


@dataclass(frozen=True, slots=True)
class Arrow:
    """One import: ``source`` (a module) imports ``target`` at ``line``."""

    source: str
    target: str
    line: int


def module_name(root: Path, path: Path) -> str:
    """The dotted name of ``path`` inside the package whose folder is ``root``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name."""
    return {module_name(root, path): path for path in sorted(root.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, source: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (resolving ``from . import``)."""
    if not node.level:
        return node.module or ""
    base = source.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, node.module] if node.module else base)


def arrows(root: Path) -> Iterator[Arrow]:
    """Every import of a module of the package by a module of the package."""
    known = modules(root)
    for source, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Arrow(source, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(node, source, path.name == "__init__.py")
                for alias in node.names:
                    # ``from pkg import mod`` imports the module ``pkg.mod``.
                    full = f"{target}.{alias.name}"
                    yield Arrow(source, full if full in known else target, node.lineno)


def layer_of(module: str, layers: Sequence[Sequence[str]]) -> int | None:
    """The index of the layer whose longest entry is ``module`` or a package above it."""
    best: tuple[int, int] | None = None
    for index, entries in enumerate(layers):
        for entry in entries:
            names_it = module == entry or module.startswith(entry + ".")
            if names_it and (best is None or len(entry) > best[0]):
                best = (len(entry), index)
    return None if best is None else best[1]


def violations(root: Path, layers: Sequence[Sequence[str]]) -> list[str]:
    """Upward imports and unplaced modules of the package at ``root``, as readable lines."""
    found = [f"{name}: in no layer" for name in modules(root) if layer_of(name, layers) is None]
    for arrow in arrows(root):
        if arrow.target.split(".")[0] != root.name:
            continue
        low, high = layer_of(arrow.source, layers), layer_of(arrow.target, layers)
        if low is not None and high is not None and high > low:
            found.append(f"{arrow.source}:{arrow.line} imports {arrow.target} (a layer above)")
    return found


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """A synthetic package under ``root``: ``{"pkg/a.py": "source", ...}``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / next(iter(files)).split("/")[0]


SYNTHETIC_LAYERS = (("pkg", "pkg.low"), ("pkg.mid",), ("pkg.top",))


class TestBroker:
    """The real package keeps its layers."""

    def test_no_module_imports_from_a_layer_above(self) -> None:
        """Every arrow in broker/ points to its own layer or one below."""
        root = Path(broker.__file__).parent
        assert violations(root, LAYERS) == []

    def test_the_check_sees_the_real_imports(self) -> None:
        """The walk finds known arrows, so an empty result above is not a blind spot."""
        found = {(a.source, a.target) for a in arrows(Path(broker.__file__).parent)}
        assert ("broker.gateway.link", "broker.recording.castfile") in found
        assert ("broker.runtime.root", "broker.api.app") in found

    def test_third_party_packages_stay_at_their_edge(self) -> None:
        """boto3 only under ``broker.aws``; paramiko (a test dependency) nowhere."""
        found = [
            f"{a.source}:{a.line} imports {a.target}"
            for a in arrows(Path(broker.__file__).parent)
            if (edge := EDGES.get(a.target.split(".")[0])) is not None
            and not any(layer_of(a.source, [(entry,)]) == 0 for entry in edge)
        ]
        assert found == []

    def test_every_layer_entry_exists(self) -> None:
        """No entry names a module that is gone (a stale table hides nothing)."""
        names = set(modules(Path(broker.__file__).parent))
        stale = [
            e
            for layer in LAYERS
            for e in layer
            if e not in names and not any(n.startswith(e + ".") for n in names)
        ]
        assert stale == []


class TestChecker:
    """The checker itself, on synthetic package trees."""

    def test_upward_import_fails(self, tmp_path: Path) -> None:
        """A low module importing a higher one is reported with its line."""
        root = write_tree(
            tmp_path,
            {
                "pkg/__init__.py": "",
                "pkg/low.py": "x = 1\nfrom pkg.top import y\n",
                "pkg/mid.py": "",
                "pkg/top.py": "y = 2\n",
            },
        )
        assert violations(root, SYNTHETIC_LAYERS) == ["pkg.low:2 imports pkg.top (a layer above)"]

    def test_downward_and_same_layer_imports_pass(self, tmp_path: Path) -> None:
        """Imports of the own layer or below are allowed."""
        root = write_tree(
            tmp_path,
            {
                "pkg/__init__.py": "",
                "pkg/low.py": "import pkg\n",
                "pkg/mid/__init__.py": "from pkg import low\nfrom pkg.mid import b\n",
                "pkg/mid/b.py": "",
                "pkg/top.py": "import pkg.mid.b\nfrom pkg.low import x\n",
            },
        )
        assert violations(root, SYNTHETIC_LAYERS) == []

    @pytest.mark.parametrize(
        "source",
        [
            "from pkg import top\n",
            "import pkg.top\n",
            "def f():\n    from pkg.top import y\n",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.top\n",
            "from . import top\n",
            "from .top import y\n",
        ],
        ids=["from-package", "import", "in-function", "type-checking", "relative", "relative-from"],
    )
    def test_every_import_form_is_seen(self, tmp_path: Path, source: str) -> None:
        """Each way of writing an upward import is caught."""
        root = write_tree(
            tmp_path,
            {"pkg/__init__.py": "", "pkg/low.py": source, "pkg/mid.py": "", "pkg/top.py": ""},
        )
        assert [v.split(":")[0] for v in violations(root, SYNTHETIC_LAYERS)] == ["pkg.low"]

    def test_unplaced_module_fails(self, tmp_path: Path) -> None:
        """A module outside every layer is an error until it is placed."""
        root = write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/stray.py": ""})
        assert violations(root, (("pkg.low",), ("pkg.top",))) == [
            "pkg: in no layer",
            "pkg.stray: in no layer",
        ]

    def test_longest_entry_wins(self) -> None:
        """``pkg.mid`` sits above ``pkg``, though ``pkg`` is a prefix of it."""
        assert layer_of("pkg.mid.deep", SYNTHETIC_LAYERS) == 1
        assert layer_of("pkg.other", SYNTHETIC_LAYERS) == 0
