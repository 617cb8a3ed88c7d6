"""Printable registers as PDF (fpdf2), with an embedded CJK font.

The font is embedded (subset) so the register prints the same on any machine, years
later. Debian's ``fonts-noto-cjk`` ships Noto Sans CJK as one OpenType collection
(.ttc, CFF outlines) holding the JP, KR, SC, TC and HK faces; fpdf2 reads the collection,
and we pick the Simplified Chinese face by its name so 社区 glyphs get mainland forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from archive.errors import MissingDependencyError
from archive.i18n import _

__all__ = ["FONT_CANDIDATES", "find_cjk_font", "register_pdf"]

#: Where Debian packages put a CJK font fpdf2 can embed, best first.
FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # fonts-noto-cjk
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),  # fonts-noto-cjk
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # fonts-wqy-zenhei
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # fonts-wqy-microhei
)

FAMILY = "cjk"
_GREY = (230, 230, 230)


def find_cjk_font(font: Path | None = None) -> tuple[Path, int]:
    """The font file to embed and the face number inside it (0 unless a collection).

    Raises:
        MissingDependencyError: No CJK font found; says which Debian package to install.
    """
    candidates = [font] if font is not None else list(FONT_CANDIDATES)
    for path in candidates:
        if path.is_file():
            return path, _simplified_face(str(path))
    raise MissingDependencyError(
        _("找不到可嵌入的中文字体，请安装 fonts-noto-cjk（apt-get install fonts-noto-cjk）。已查找：{paths}").format(
            paths=", ".join(map(str, candidates))
        ),
        rule="pdf:cjk-font",
    )


@lru_cache(maxsize=8)
def _simplified_face(path: str) -> int:
    """The face of a .ttc whose family is a Simplified Chinese (SC) one, not a monospaced one."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(path, lazy=True)
    try:
        for index, face in enumerate(collection.fonts):
            family = face["name"].getDebugName(1) or ""
            if family.endswith(" SC") and "Mono" not in family:
                return index
    finally:
        collection.close()
    return 0


def register_pdf(
    title: str,
    header_lines: Sequence[str],
    columns: Sequence[str],
    widths: Sequence[float],
    rows: Iterable[Sequence[object]],
    *,
    footer_lines: Sequence[str] = (),
    font: Path | None = None,
    created: datetime | None = None,
) -> bytes:
    """An A4 landscape register: title, header lines, a table whose heading repeats on
    every page, then footer lines (signature blanks), with page numbers."""
    from fpdf import FPDF
    from fpdf.enums import WrapMode
    from fpdf.fonts import FontFace

    path, face = find_cjk_font(font)

    class _Register(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(FAMILY, size=8)
            self.cell(0, 6, f"{title}　第 {self.page_no()} 页 共 {{nb}} 页", align="C")

    pdf = _Register(orientation="L", unit="mm", format="A4")
    pdf.set_creation_date(created or datetime.now(UTC))
    pdf.set_title(title)
    pdf.set_lang("zh-CN")
    pdf.add_font(FAMILY, fname=str(path), collection_font_number=face)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_font(FAMILY, size=18)
    pdf.cell(0, 12, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=10)
    for line in header_lines:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(FAMILY, size=9)
    with pdf.table(
        col_widths=tuple(widths),
        wrapmode=WrapMode.CHAR,  # Chinese has no spaces to break at
        headings_style=FontFace(fill_color=_GREY),  # no bold face is loaded, so shade instead
        text_align="LEFT",
        line_height=5,
        padding=1,
    ) as table:
        table.row([str(c) for c in columns])
        for row in rows:
            table.row(["" if v is None else str(v) for v in row])
    pdf.ln(6)
    pdf.set_font(FAMILY, size=10)
    for line in footer_lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
