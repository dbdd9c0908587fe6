"""The TIA as a PDF, read back with pypdf: a document with the report's headings and figures."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from broker.audit import Auditor, AuditQuery
from broker.audit.tia import TiaScope, build_tia, tia_sections
from broker.clock import FakeClock
from broker.errors import UnavailableError
from broker.render import tia_pdf
from broker.render.tia_pdf import render_pdf

START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
GENERATED = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
SCOPE = TiaScope("acme-de", "eu-central-1", "eea_only", START, END, {"audit trail": "/var/a"})
EMAIL, PHONE = "alice.example@example.com", "+49 151 23456789"


def records() -> list[dict[str, Any]]:
    """A month of one org: two accesses, a denial, a blocked escape, a waiver, a watch."""
    org = {"org_id": "acme-de"}
    return [
        {**org, "event": "session.issued", "staff_country": "US", "basis": "consent",
         "session_id": "s-1", "consent_id": "c-1"},
        {**org, "event": "session.issued", "staff_country": "DE", "basis": "intra-eea",
         "session_id": "s-2"},
        {**org, "event": "session.closed", "session_id": "s-1", "duration_s": 1800},
        {**org, "event": "session.denied", "reasons": ["consent_required"]},
        {**org, "event": "egress.blocked", "kind": "osc52"},
        {**org, "event": "consent.granted", "consent_id": "c-1", "ticket_id": "T-1001",
         "staff_id": "eng-us-1", "actor": "cust-1", "waives_eea_only": True,
         "time": "2026-11-02T10:00:00.000000Z", "expires_at": "2026-11-03T10:00:00.000000Z"},
        {**org, "event": "viewer.watch_started", "session_id": "s-1", "ticket_id": "T-1001",
         "actor": "cust-1", "time": "2026-11-02T10:05:00.000000Z"},
    ]  # fmt: skip


def text_of(data: bytes) -> tuple[PdfReader, list[str]]:
    """The reader and each page's text."""
    reader = PdfReader(io.BytesIO(data))
    return reader, [page.extract_text() for page in reader.pages]


@pytest.fixture(scope="module")
def pdf() -> tuple[PdfReader, list[str]]:
    """The sample report rendered once."""
    return text_of(render_pdf(build_tia(SCOPE, records()), GENERATED))


class TestDocument:
    """It reads as a document: title page, headings, tables, page numbers, metadata."""

    def test_title_page_names_the_report(self, pdf) -> None:
        """Page 1: the title, the org, the region, the period and the verified chain."""
        _, pages = pdf
        first = pages[0]
        expected = ("Transfer Impact Assessment", "acme-de", "eu-central-1", "eea_only",
                    "2026-11-01T00:00:00+00:00", "verified intact", "2026-12-04T09:30")  # fmt: skip
        assert [e for e in expected if e not in first] == []

    def test_every_section_heading_is_there_and_bookmarked(self, pdf) -> None:
        """The Markdown's headings, in the text and in the outline, in order."""
        reader, pages = pdf
        headings = [s.heading for s in tia_sections(build_tia(SCOPE, records()))]
        text = "\n".join(pages)
        for heading in headings:
            assert heading in text
        outline = [item.title for item in reader.outline]
        assert outline == ["Where your data and its evidence live", *headings]

    def test_page_numbers_count_the_pages(self, pdf) -> None:
        """Every footer says "Page N of M" with the real total."""
        _, pages = pdf
        total = len(pages)
        assert total >= 2
        for number, text in enumerate(pages, 1):
            assert f"Page {number} of {total}" in text

    def test_figures_match_the_report(self, pdf) -> None:
        """Table rows carry the counts, legal bases and minutes of the JSON report."""
        text = " ".join(" ".join(pdf[1]).split())
        expected = ("consent_required 1", "osc52 1", "30.0 min", "c-1", "T-1001", "eng-us-1",
                    "still watching", "Consents granted: 1; revoked: 0.")  # fmt: skip
        assert [e for e in expected if e not in text] == []

    def test_metadata(self, pdf) -> None:
        """Title and language in the document information, for filing and screen readers."""
        reader, _ = pdf
        assert reader.metadata.title == "Transfer Impact Assessment: acme-de"
        assert reader.trailer["/Root"]["/Lang"] == "en"

    def test_empty_period_says_so(self) -> None:
        """No records: each section states it is empty instead of drawing a bare table."""
        _, pages = text_of(render_pdf(build_tia(SCOPE, []), GENERATED))
        text = " ".join(" ".join(pages).split())
        assert "No session was opened in this period." in text
        assert "No request was refused." in text


class TestPrivacy:
    """Built from the redacted trail, the PDF carries no raw personal data."""

    def test_no_email_or_phone_reaches_the_pdf(self, tmp_path: Path) -> None:
        """Ids holding an email and a phone are pseudonymised before the PDF ever sees them."""
        auditor = Auditor(tmp_path, FakeClock(datetime(2026, 11, 5, tzinfo=UTC)))
        auditor.emit("consent.granted", region="eu-central-1", org_id="acme-de",
                     consent_id="c-9", ticket_id="T-1001", staff_id=EMAIL, actor=PHONE,
                     waives_eea_only=True)  # fmt: skip
        found = auditor.query("eu-central-1", AuditQuery(org_id="acme-de")).records
        auditor.close()
        _, pages = text_of(render_pdf(build_tia(SCOPE, found), GENERATED))
        text = "".join("".join(pages).split())
        assert "c-9" in text
        assert "example.com" not in text
        assert "23456789" not in text


class TestFonts:
    """Without its fonts the PDF is refused, not drawn with missing glyphs."""

    def test_missing_fonts_fail_clearly(self, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
        """``pdf_fonts_missing`` names the Debian package to install."""
        monkeypatch.setattr(tia_pdf, "FONT_DIR", tmp_path)
        with pytest.raises(UnavailableError) as caught:
            render_pdf(build_tia(SCOPE, []), GENERATED)
        assert caught.value.code == "pdf_fonts_missing"
        assert "fonts-dejavu-core" in str(caught.value)
