"""活动内容 (GD-3-8): PDFs with JavaScript, launch actions, embedded files; Office files with macros.

Each hostile PDF is built here with pikepdf; the shared PDF corpus runs through the walk too
and none of it may crash it or be called active.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, String

from archive.model import Verdict
from ingest import _active
from ingest._decode import Notes
from ingest.formats import Inspection, inspect_file

from .test_formats import CONTENT_TYPES, PDFS, RELS, failures, warnings_of


def _pdf(path: Path, dress: Callable[[pikepdf.Pdf], None] = lambda pdf: None) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    dress(pdf)
    pdf.save(path)
    return path


def _names_javascript(pdf: pikepdf.Pdf) -> None:
    action = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=String("app.alert('hi')")))
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("hello"), action])))


def _open_action_javascript(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = Dictionary(S=Name.JavaScript, JS=String("this.print()"))


def _launch(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = Dictionary(S=Name.Launch, F=String("cmd.exe"))


def _page_aa_submit(pdf: pikepdf.Pdf) -> None:
    pdf.pages[0].obj.AA = Dictionary(O=Dictionary(S=Name.SubmitForm, F=String("http://example.invalid/")))


def _embedded_file(pdf: pikepdf.Pdf) -> None:
    pdf.attachments["附件.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00")


def _xfa(pdf: pikepdf.Pdf) -> None:
    pdf.Root.AcroForm = Dictionary(Fields=Array([]), XFA=pdf.make_stream(b"<xdp:xdp/>"))


def _next_chain_javascript(pdf: pikepdf.Pdf) -> None:
    """A harmless /GoTo on opening whose /Next chain runs JavaScript, looping back to itself."""
    first = pdf.make_indirect(Dictionary(S=Name.GoTo, D=Array([pdf.pages[0].obj, Name.Fit])))
    first.Next = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=String("1"), Next=first))
    pdf.Root.OpenAction = first


ACTIVE = {
    "names-javascript": (_names_javascript, "JavaScript"),
    "openaction-javascript": (_open_action_javascript, "OpenAction/AA"),
    "launch": (_launch, "Launch"),
    "page-aa-submitform": (_page_aa_submit, "SubmitForm"),
    "embedded-file": (_embedded_file, "EmbeddedFiles"),
    "xfa": (_xfa, "XFA"),
    "next-chain-cycle": (_next_chain_javascript, "JavaScript"),
}


def inspect(path: Path, **kwargs: object) -> Inspection:
    return inspect_file(path, path.name, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ACTIVE)
def test_active_pdf_is_warned_by_default(tmp_path: Path, name: str) -> None:
    dress, named = ACTIVE[name]
    result = inspect(_pdf(tmp_path / f"{name}.pdf", dress))
    assert failures(result) == [] and warnings_of(result) == ["GD-3-8"], result.findings
    (finding,) = result.findings
    assert named in (finding.found or "") and "active_content" in finding.message


@pytest.mark.parametrize("name", ACTIVE)
def test_active_pdf_is_refused_by_setting(tmp_path: Path, name: str) -> None:
    dress, named = ACTIVE[name]
    result = inspect(_pdf(tmp_path / f"{name}.pdf", dress), active_content="refuse")
    assert failures(result) == ["GD-3-8"], result.findings
    assert "active_content = refuse" in result.findings[0].message and named in (result.findings[0].found or "")


def _harmless(pdf: pikepdf.Pdf) -> None:
    """What ordinary PDFs carry: open at page 1, a link a reader clicks, an outline entry."""
    page = pdf.pages[0].obj
    pdf.Root.OpenAction = Array([page, Name.Fit])
    link = Dictionary(
        Type=Name.Annot,
        Subtype=Name.Link,
        Rect=Array([0, 0, 10, 10]),
        A=Dictionary(S=Name.URI, URI=String("https://example.org/")),
    )
    page.Annots = Array([pdf.make_indirect(link)])
    item = pdf.make_indirect(Dictionary(Title=String("第一页"), A=Dictionary(S=Name.GoTo, D=Array([page, Name.Fit]))))
    pdf.Root.Outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item, Count=1))
    item.Parent = pdf.Root.Outlines


@pytest.mark.parametrize("policy", ["warn", "refuse"])
def test_clean_pdf_has_no_active_content_finding(tmp_path: Path, policy: str) -> None:
    assert inspect(_pdf(tmp_path / "plain.pdf", _harmless), active_content=policy).findings == []


def test_uri_fired_on_opening_is_active(tmp_path: Path) -> None:
    def auto_uri(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = Dictionary(S=Name.URI, URI=String("http://example.invalid/"))

    result = inspect(_pdf(tmp_path / "auto-uri.pdf", auto_uri))
    assert warnings_of(result) == ["GD-3-8"] and "URI" in (result.findings[0].found or "")


def test_walk_cut_short_by_its_budget_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def many(pdf: pikepdf.Pdf) -> None:
        pdf.Root.Junk = Array([pdf.make_indirect(Dictionary(N=i)) for i in range(200)])

    path = _pdf(tmp_path / "many.pdf", many)
    monkeypatch.setattr(_active, "NODE_BUDGET", 50)
    warned = inspect(path)
    assert warnings_of(warned) == ["GD-3-8"] and "未完成" in warned.findings[0].message
    assert failures(inspect(path, active_content="refuse")) == ["GD-3-8"]  # cannot vouch for the rest


@pytest.mark.skipif(not PDFS.is_dir(), reason=f"shared PDF corpus not found at {PDFS}")
@pytest.mark.parametrize("policy", ["warn", "refuse"])
def test_corpus_pdfs_walk_without_crash_and_none_is_active(policy: str) -> None:
    walked = 0
    for path in sorted(PDFS.glob("*.pdf")):
        try:
            pdf = pikepdf.open(path)
        except (pikepdf.PdfError, pikepdf.PasswordError):
            continue  # encrypted or unparseable: inspect_file reports those (test_formats)
        with pdf:
            notes = Notes(path.name)
            _active.pdf_active_content(pdf, notes, policy)
        assert notes.findings == [], (path.name, notes.findings)
        walked += 1
    assert walked >= 10


# --- Office macros ---------------------------------------------------------------------------

DOCM_TYPES = CONTENT_TYPES.replace(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.ms-word.document.macroEnabled.main+xml",
)
DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
    '2006/main"><w:body><w:p><w:r><w:t>通知</w:t></w:r></w:p></w:body></w:document>'
)


def _docm(path: Path, macros: bool) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", DOCM_TYPES if macros else CONTENT_TYPES)
        archive.writestr("_rels/.rels", RELS)
        archive.writestr("word/document.xml", DOCUMENT)
        if macros:
            archive.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    return path


def test_ooxml_with_vba_macros_is_warned_or_refused(tmp_path: Path) -> None:
    path = _docm(tmp_path / "宏.docm", macros=True)
    warned = inspect(path)
    assert failures(warned) == [] and "GD-3-8" in warnings_of(warned)
    assert any("VBA" in (f.found or "") for f in warned.findings if f.code == "GD-3-8")
    assert "GD-3-8" in failures(inspect(path, active_content="refuse"))
    assert "GD-3-8" not in warnings_of(inspect(_docm(tmp_path / "plain.docx", macros=False)))


@pytest.mark.parametrize(
    ("names", "macros"),
    [
        ({"WordDocument", "Macros/VBA/dir"}, True),
        ({"Workbook", "_VBA_PROJECT_CUR/VBA/dir"}, True),
        ({"word/vbaProject.bin", "word/document.xml"}, True),
        ({"Basic/Standard/Module1.xml", "content.xml"}, True),
        ({"WordDocument", "1Table", "\x05SummaryInformation"}, False),
        ({"word/document.xml", "word/media/vba.png"}, False),
    ],
)
def test_office_macros_are_found_where_office_keeps_them(names: set[str], macros: bool) -> None:
    assert bool(_active.office_macros(names)) is macros


def test_finding_is_a_warning_or_failure_only() -> None:
    notes = Notes("x.pdf")
    _active.report_active(notes, [_active.JAVASCRIPT], "warn")
    _active.report_active(notes, [_active.JAVASCRIPT], "refuse")
    _active.report_active(notes, [], "refuse")
    assert [f.verdict for f in notes.findings] == [Verdict.warning, Verdict.failed]


def _package(path: Path, types: str, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", RELS)
        archive.writestr("word/document.xml", DOCUMENT)
        for name, data in members.items():
            archive.writestr(name, data)
    return path


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504


@pytest.mark.parametrize(
    ("types", "members"),
    [
        # a VBA project under another name, found by the content type it is declared with
        (
            CONTENT_TYPES.replace("</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.'
                                  'vbaProject"/></Types>'),  # fmt: skip
            {"word/code.bin": OLE},
        ),
        # an Excel 4.0 (XLM) macro sheet, with no VBA at all
        (
            CONTENT_TYPES.replace("</Types>", '<Override PartName="/xl/macrosheets/sheet1.xml" ContentType='
                                  '"application/vnd.ms-excel.macrosheet+xml"/></Types>'),  # fmt: skip
            {"xl/macrosheets/sheet1.xml": '<xm:macrosheet xmlns:xm="x"><c><f>EXEC("calc.exe")</f></c></xm:macrosheet>'},
        ),
        # a macro-enabled main document whose code part is not where it usually is
        (DOCM_TYPES, {"word/other.bin": OLE}),
    ],
)
def test_macros_found_by_what_a_part_is_declared_to_be(tmp_path: Path, types: str, members: dict) -> None:
    path = _package(tmp_path / "宏.docx", types, members)
    assert "GD-3-8" in warnings_of(inspect(path))
    assert "GD-3-8" in failures(inspect(path, active_content="refuse"))
