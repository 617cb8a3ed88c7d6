"""活动内容 (active content): code or actions a file runs or launches when it is opened or used.

A PDF with JavaScript, an action that launches a program, opens another file or submits a
form, an embedded file, an XFA form or rich media, and an Office package with VBA macros,
is archived only with a GD-3-8 finding: PDF/A forbids all of these, and a record that runs
code on opening is neither stable nor safe to hand to a reader. By default the finding is a
warning in the 检测报告; ``[ingest] active_content = "refuse"`` makes it a failure.

The PDF walk follows references from the trailer with a visited set (a reference cycle is
seen once) and stops at a node and time budget: a hostile file may hold millions of objects.
A walk cut short is itself reported, since it cannot vouch for the rest of the file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pikepdf

from ingest._decode import DECODE_ERRORS, Notes, describe

__all__ = ["ACTIVE_POLICIES", "NODE_BUDGET", "TIME_BUDGET", "office_macros", "pdf_active_content", "report_active"]

#: ``[ingest] active_content`` values.
ACTIVE_POLICIES = ("warn", "refuse")
#: Objects (dictionaries, arrays, streams) visited at most, and seconds spent, per PDF.
NODE_BUDGET = 500_000
TIME_BUDGET = 20.0

# What each action type (/S) does, as (Chinese, English). /URI only counts when it fires by
# itself (an /OpenAction or /AA trigger): a link a reader clicks is ordinary content.
Kind = tuple[str, str]
JAVASCRIPT: Kind = ("JavaScript 脚本", "JavaScript")
_CODE_ACTIONS: dict[str, Kind] = {"/JavaScript": JAVASCRIPT, "/RichMediaExecute": ("富媒体脚本", "RichMediaExecute")}
_LAUNCH_ACTIONS: dict[str, Kind] = {
    "/Launch": ("启动外部程序", "Launch"),
    "/GoToR": ("打开其他文件", "GoToR"),
    "/GoToE": ("打开嵌入文件", "GoToE"),
    "/ImportData": ("导入外部数据", "ImportData"),
    "/SubmitForm": ("提交表单", "SubmitForm"),
}
_AUTO_ONLY_ACTIONS: dict[str, Kind] = {"/URI": ("自动打开网址", "URI")}
AUTOMATIC: Kind = ("打开或操作时自动执行", "OpenAction/AA")
EMBEDDED: Kind = ("嵌入文件", "EmbeddedFiles")
XFA: Kind = ("XFA 表单", "XFA")
MACROS: Kind = ("VBA 宏", "VBA macros")
_TRIGGERS = ("/OpenAction", "/AA")  # keys under which an action runs without a click


@dataclass
class _Walk:
    found: dict[Kind, None] = field(default_factory=dict)  # kinds, in the order first seen
    seen: set[tuple[int, int, bool]] = field(default_factory=set)
    nodes: int = 0
    started: float = field(default_factory=time.monotonic)


def report_active(notes: Notes, kinds: list[Kind], policy: str) -> None:
    """One GD-3-8 finding listing the active content found: a warning, or a failure under ``refuse``."""
    if not kinds:
        return
    zh, en = "、".join(k[0] for k in kinds), ", ".join(k[1] for k in kinds)
    if policy == "refuse":
        zh = (
            f"含活动内容 ({zh})，按设置 [ingest] active_content = refuse 拒收; "
            "请去除活动内容 (如另存为 PDF/A) 后重新归档"
        )
        notes.fail("GD-3-8", zh, "active content refused by [ingest] active_content", en)
    else:
        notes.warn("GD-3-8", f"含活动内容 ({zh})，按设置 [ingest] active_content = warn 记录", "active content", en)


def pdf_active_content(pdf: pikepdf.Pdf, notes: Notes, policy: str) -> None:
    """Walk every object reachable from the trailer and report the active content found."""
    walk = _Walk()
    why = None
    try:
        if not _walk(pdf.trailer, walk):
            why = f"budget of {NODE_BUDGET} objects or {TIME_BUDGET:g} s spent"
    except DECODE_ERRORS as exc:  # a damaged object: the decoder reports the damage itself too
        why = describe(exc)
    report_active(notes, list(walk.found), policy)
    if why and not walk.found:  # what was found already stands; otherwise say the walk is partial
        zh, en = "PDF 对象过多或损坏，活动内容检查未完成", "active-content check incomplete"
        if policy == "refuse":  # it cannot vouch for the rest, and refusing is what was asked
            notes.fail("GD-3-8", zh + "，按设置 [ingest] active_content = refuse 拒收", en, why)
        else:
            notes.warn("GD-3-8", zh, en, why)


def _walk(root: Any, walk: _Walk) -> bool:
    """Depth-first over dictionaries, arrays and stream dictionaries; False when a budget ran out."""
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, auto = stack.pop()
        if node.is_indirect:  # a direct object has one parent: only indirect ones can cycle
            key = (*node.objgen, auto)
            if key in walk.seen:
                continue
            walk.seen.add(key)
        walk.nodes += 1
        if walk.nodes > NODE_BUDGET or (walk.nodes % 1000 == 0 and time.monotonic() - walk.started > TIME_BUDGET):
            return False
        if isinstance(node, pikepdf.Array):  # a chain of actions stays automatic, a destination's page does not
            stack.extend((item, auto and _is_action(item)) for item in node if _container(item))
        elif isinstance(node, pikepdf.Dictionary | pikepdf.Stream):
            _judge(node, auto, walk)
            # Automatic: what /OpenAction or /AA holds, the actions of an /AA dictionary, and /Next.
            for name, value in node.items():
                if _container(value):
                    stack.append((value, name in _TRIGGERS or (auto and (name == "/Next" or "/S" not in node))))
    return True


def _is_action(value: Any) -> bool:
    return isinstance(value, pikepdf.Dictionary) and "/S" in value


def _container(value: Any) -> bool:
    return isinstance(value, pikepdf.Dictionary | pikepdf.Array | pikepdf.Stream)


def _judge(node: Any, auto: bool, walk: _Walk) -> None:
    """Name what this one dictionary makes active."""
    found = walk.found
    action = str(node.get("/S", ""))
    kind = (
        _CODE_ACTIONS.get(action) or _LAUNCH_ACTIONS.get(action) or (_AUTO_ONLY_ACTIONS.get(action) if auto else None)
    )
    if kind:
        found.setdefault(kind, None)
        if auto:  # a /GoTo to a page on opening is harmless and not named
            found.setdefault(AUTOMATIC, None)
    if "/JS" in node or isinstance(node.get("/JavaScript"), pikepdf.Dictionary):  # /Names' JavaScript tree
        found.setdefault(JAVASCRIPT, None)
    if "/EmbeddedFiles" in node or "/EF" in node or node.get("/Type") == "/EmbeddedFile":
        found.setdefault(EMBEDDED, None)
    if "/XFA" in node:
        found.setdefault(XFA, None)
    subtype = node.get("/Subtype")
    if subtype in ("/RichMedia", "/3D"):  # both may carry scripts of their own
        found.setdefault(("富媒体", str(subtype).lstrip("/")), None)


# Where Office files keep VBA: OOXML in vbaProject.bin, Word 97 under Macros/, Excel and
# PowerPoint under _VBA_PROJECT_CUR/ or VBA/; ODF keeps Basic and other scripts in Basic/, Scripts/.
_MACRO_DIRS = frozenset({"macros", "_vba_project_cur", "vba", "basic", "scripts"})
# Excel 4.0 (XLM) macro sheets live in their own folder of an OOXML package.
_MACRO_FOLDERS = ("xl/macrosheets/",)
# What an OOXML package's [Content_Types].xml declares for code, whatever the part is called: a VBA
# project under any name, a macro-enabled main document, an XLM macro sheet (lower-cased).
_MACRO_TYPES = (
    "application/vnd.ms-office.vbaproject",
    "macroenabled",
    "application/vnd.ms-excel.macrosheet",
    "application/vnd.ms-excel.intlmacrosheet",
)


def office_macros(names: set[str], content_types: bytes = b"") -> list[Kind]:
    """[MACROS] when a zip package's members (or the content types it declares) or an OLE file's
    streams hold macros, else []. A part is found by what it is declared to be, not only by its name:
    a VBA project renamed ``code.bin`` is declared with the VBA content type all the same."""
    for name in names:
        lowered = name.lower()
        parts = lowered.split("/")
        if parts[-1] == "vbaproject.bin" or parts[0] in _MACRO_DIRS or lowered.startswith(_MACRO_FOLDERS):
            return [MACROS]
    declared = content_types.decode("utf-8", errors="replace").lower()
    return [MACROS] if any(kind in declared for kind in _MACRO_TYPES) else []
