"""The Transfer Impact Assessment as a PDF a data-protection officer can file.

Built with fpdf2 (pure Python) from the same report dictionary and the same
sections (``broker.audit.tia.tia_sections``) the Markdown and JSON come from,
so the three never say different things. The document has a title page
(whose report, which region, which period, that the chain verified), one
heading per section with a bookmark in the outline, tables with a header row
repeated across page breaks, and "Page N of M" in every footer. Fonts are
the DejaVu family the Debian package ``fonts-dejavu-core`` installs (embedded
as subsets, so any Unicode an id holds prints); without them the PDF is
refused with a clear error rather than drawn with missing glyphs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, XPos, YPos

from broker.audit.tia import (
    RELAY_NOTE,
    TiaSection,
    consents_line,
    tia_intro,
    tia_sections,
)
from broker.errors import UnavailableError

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FAMILY = "DejaVu"
INK = (26, 26, 26)
ACCENT = (0, 84, 147)
HEADINGS = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=ACCENT)


class _Document(FPDF):
    """A4 pages with the report's footer."""

    def __init__(self, org_id: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.org_id = org_id
        self.set_margins(20, 20, 20)
        self.set_auto_page_break(auto=True, margin=20)

    def footer(self) -> None:
        """Org and page number on every page."""
        self.set_y(-14)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*INK)
        self.cell(0, 6, f"Transfer Impact Assessment \u00b7 {self.org_id}", align="L")
        self.set_x(self.l_margin)
        self.cell(0, 6, f"Page {self.page_no()} of {{nb}}", align="R")


def render_pdf(tia: Mapping[str, Any], generated_at: datetime) -> bytes:
    """The report as PDF bytes; ``generated_at`` goes on the title page and in the metadata."""
    pdf = _Document(str(tia["org_id"]))
    _fonts(pdf)
    pdf.set_title(f"Transfer Impact Assessment: {tia['org_id']}")
    pdf.set_subject(f"{tia['region']}, {tia['period']['from']} to {tia['period']['to']}")
    pdf.set_author("Region-pinned session broker")
    pdf.set_lang("en")
    pdf.set_creation_date(generated_at)
    _title_page(pdf, tia, generated_at)
    pdf.add_page()
    _where(pdf, tia)
    for section in tia_sections(tia):
        _section(pdf, section)
    _paragraph(pdf, consents_line(tia))
    return bytes(pdf.output())


def _fonts(pdf: FPDF) -> None:
    for style, name in FONTS.items():
        path = FONT_DIR / name
        if not path.is_file():
            raise UnavailableError(
                "pdf_fonts_missing", "the DejaVu fonts (fonts-dejavu-core) are not installed"
            )
        pdf.add_font(FAMILY, style, str(path))


def _title_page(pdf: FPDF, tia: Mapping[str, Any], generated_at: datetime) -> None:
    pdf.add_page()
    pdf.set_y(60)
    pdf.set_text_color(*ACCENT)
    pdf.set_font(FAMILY, "B", 26)
    pdf.multi_cell(0, 12, "Transfer Impact Assessment", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    pdf.set_font(FAMILY, "", 16)
    pdf.multi_cell(0, 9, str(tia["org_id"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(10)
    facts = (
        ("Customer data region", tia["region"]),
        ("Support tier", tia["tier"]),
        ("Period from", tia["period"]["from"]),
        ("Period to", tia["period"]["to"]),
        ("Audit chain", "verified intact before this report was produced"),
        ("Generated", generated_at.isoformat()),
    )
    _table(pdf, ("fact", "value"), [(k, str(v)) for k, v in facts], headings=False)


def _where(pdf: FPDF, tia: Mapping[str, Any]) -> None:
    _heading(pdf, "Where your data and its evidence live")
    _paragraph(pdf, tia_intro(tia))
    bullets = [
        f"Customer data region: **{tia['region']}**; support tier: **{tia['tier']}**.",
        *(f"{name.capitalize()}: {where}" for name, where in tia["storage"].items()),
        RELAY_NOTE.replace("*", ""),
    ]
    for bullet in bullets:
        pdf.set_x(pdf.l_margin + 4)
        pdf.multi_cell(0, 6, f"\u2022 {bullet}", markdown=True, align="L",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
    pdf.ln(2)


def _section(pdf: FPDF, section: TiaSection) -> None:
    _heading(pdf, section.heading)
    if section.rows:
        _table(pdf, section.header, section.rows)
    else:
        _paragraph(pdf, section.empty)


def _heading(pdf: FPDF, text: str) -> None:
    if pdf.get_y() > pdf.h - 60:  # never a heading alone at the foot of a page
        pdf.add_page()
    pdf.ln(4)
    pdf.start_section(text)
    pdf.set_font(FAMILY, "B", 14)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    pdf.ln(1)


def _paragraph(pdf: FPDF, text: str) -> None:
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(0, 6, text, markdown=True, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _table(
    pdf: FPDF, header: tuple[str, ...], rows: list[tuple[str, ...]], *, headings: bool = True
) -> None:
    pdf.set_font(FAMILY, "", 9 if len(header) <= 5 else 7)
    with pdf.table(
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=HEADINGS,
        first_row_as_headings=headings,
        line_height=5.5,
        text_align="LEFT",
        padding=1.5,
    ) as table:
        for cells in ([header] if headings else []) + list(rows):
            row = table.row()
            for value in cells:
                row.cell(value)
    pdf.ln(3)
