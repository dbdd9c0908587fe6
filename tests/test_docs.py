"""The documentation stands alone and its references hold.

A clone of the repository is all a reader has: no link may leave it, every
relative link must resolve, and every test that docs/platform-notes.md says
pins a fact must exist (a moved or renamed test otherwise leaves the fact
unpinned without anyone noticing).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
SOURCES = sorted(
    path
    for folder in ("broker", "tests", "benchmarks", "infra")
    for path in (ROOT / folder).rglob("*")
    if path.suffix in {".py", ".md", ".yaml", ".yml", ".toml"} and path.name != "test_docs.py"
)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
TEST_REF = re.compile(r"`((?:[a-z_]+/)*test_[a-z0-9_]+\.py)((?:::[A-Za-z0-9_]+)+)(?:\[[^\]]*\])?`")
OUTSIDE = re.compile(r"\.\./shared/|\bshared/(?:DESIGN|NOTES)\b|\b(?:DESIGN|NOTES)\.md\b")


def _relative(path: Path) -> str:
    """A path as the test ids show it."""
    return str(path.relative_to(ROOT))


def _names(path: Path) -> dict[str, set[str]]:
    """Top-level classes of a test module -> their method names ("" -> functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {"": set()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found[node.name] = {
                n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[""].add(node.name)
    return found


def _exists(file: str, chain: str) -> bool:
    """Does ``tests/<file>`` define ``Class``, ``Class::test`` or ``test`` of ``::...``?"""
    path = ROOT / "tests" / file
    if not path.exists():
        return False
    names = _names(path)
    parts = chain.strip(":").split("::")
    cls, test = (parts[0], parts[1:2]) if parts[0][0].isupper() else ("", parts[:1])
    return cls in names and all(name in names[cls] for name in test)


class TestDocs:
    """Links and test references in README.md and docs/."""

    @pytest.mark.parametrize("doc", DOCS, ids=_relative)
    def test_relative_links_resolve_inside_the_repository(self, doc: Path) -> None:
        """Every relative link points at a file or folder of this repository."""
        broken = []
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (doc.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(target)
        assert broken == []

    @pytest.mark.parametrize("doc", DOCS, ids=_relative)
    def test_nothing_points_outside(self, doc: Path) -> None:
        """No doc refers to design notes that live outside the repository."""
        assert OUTSIDE.findall(doc.read_text(encoding="utf-8")) == []

    def test_pinning_tests_exist(self) -> None:
        """Each ``file::Class::test`` named in the platform notes is a real test."""
        text = (ROOT / "docs" / "platform-notes.md").read_text(encoding="utf-8")
        refs = TEST_REF.findall(text)
        assert len(refs) > 30
        assert [f"{file}{chain}" for file, chain in refs if not _exists(file, chain)] == []


class TestSources:
    """Code, tests and infrastructure point only at docs inside the repository."""

    def test_no_reference_outside_the_repository(self) -> None:
        """Docstrings and comments cite docs/, never the design notes outside it."""
        offenders = [
            _relative(path)
            for path in SOURCES
            if OUTSIDE.search(path.read_text(encoding="utf-8", errors="replace"))
        ]
        assert offenders == []
