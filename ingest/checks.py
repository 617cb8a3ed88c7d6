"""四性检测 at 归档 (DA/T 70-2018): the check table and the item-level checks.

Each check has a DA/T 70-2018 style code. The GD-3-4 … GD-3-7 numbers are not verified
against the standard's text: they are this project's assignment, named here so the
report says what was checked. Modules that find problems (profiles, formats,
sources) return failures and warnings; :func:`complete_report` adds a 通过 finding
for every check that ran and found nothing, so the stored report is complete.
"""

from __future__ import annotations

from lxml import etree

from archive.model import CheckReport, FileEntry, Finding, ItemMetadata, Verdict

#: code -> (性, 检测项名称)
CHECKS: dict[str, tuple[str, str]] = {
    "GD-1-1": ("真实性", "固化信息有效性 (digests on receipt re-verified after the write)"),
    "GD-1-2": ("真实性", "元数据项长度"),
    "GD-1-3": ("真实性", "元数据项数据类型与格式"),
    "GD-1-4": ("真实性", "元数据项值域符合度"),
    "GD-1-5": ("真实性", "元数据项数据值合理性"),
    "GD-1-6": ("真实性", "元数据项是否包含特殊字符"),
    "GD-1-7": ("真实性", "档号规范性"),
    "GD-1-8": ("真实性", "重复性检测 (内容是否已归档)"),
    "GD-1-10": ("真实性", "内容数据电子属性与元数据一致 (页数)"),
    "GD-2-1": ("完整性", "总件数相符 (目录与文件一一对应)"),
    "GD-2-4": ("完整性", "必填著录项"),
    "GD-2-7": ("完整性", "内容数据完整 (所列文件齐全)"),
    "GD-3-1": ("可用性", "信息包元数据可读 (XML 可解析并符合 XSD)"),
    "GD-3-3": ("可用性", "内容数据格式为通用或归档格式 (PRONOM)"),
    "GD-3-4": ("可用性", "内容数据可完整解码"),
    "GD-3-5": ("可用性", "扫描分辨率不低于规定 (DA/T 31)"),
    "GD-3-8": ("可用性", "无加密或口令保护, 无活动内容 (脚本、宏、启动动作、嵌入文件)"),
    "GD-4-7": ("安全性", "归档过程安全可控 (路径与符号链接)"),
}

#: checks every archived item has run through
ITEM_CHECKS = tuple(CHECKS)


def fail(
    code: str, message: str, path: str | None = None, expected: str | None = None, found: str | None = None
) -> Finding:
    """A failed finding."""
    return Finding(code, Verdict.failed, message, path, expected, found)


def page_count_findings(meta: ItemMetadata, files: list[FileEntry]) -> list[Finding]:
    """GD-1-10: 页数 in the item list equals the pages found in the files."""
    paginated = [f for f in files if f.pages is not None]
    if meta.page_count is None or not paginated:
        return []
    found = sum(f.pages or 0 for f in paginated)
    if found == meta.page_count:
        return []
    return [
        fail(
            "GD-1-10",
            f"页数与文件不符: 目录记 {meta.page_count} 页, 文件共 {found} 页"
            " (page count in the list differs from the files)",
            expected=str(meta.page_count),
            found=str(found),
        )
    ]


def page_limit_findings(pages: int | None, max_pages: int) -> list[Finding]:
    """GD-3-4: an item of at most ``max_pages`` pages ([ingest] max_pages), whether the item list
    states them (judged before any file is decoded or OCR'd) or its files were counted."""
    if pages is None or pages <= max_pages:
        return []
    message = (
        f"该件共 {pages} 页, 超过设置 [ingest] max_pages = {max_pages}, 不予归档; 请拆分该件或调高此设置"
        " (item has more pages than [ingest] max_pages)"
    )
    return [fail("GD-3-4", message, expected=f"≤{max_pages}", found=str(pages))]


def scan_resolution_findings(
    meta: ItemMetadata, files: list[FileEntry], scan_names: set[str], min_dpi: int
) -> list[Finding]:
    """GD-3-5: scanned pages (载体 纸质) state at least ``min_dpi`` (DA/T 31); born-digital files are exempt."""
    if meta.carrier != "纸质":
        return []
    out = []
    for f in files:
        if f.name not in scan_names:
            continue
        if f.dpi is None:
            out.append(
                fail(
                    "GD-3-5",
                    f"扫描件未记录分辨率 (scan states no resolution; DA/T 31 requires ≥{min_dpi} dpi)",
                    f.name,
                    f"≥{min_dpi}",
                    "无",
                )
            )
        elif f.dpi + 0.5 < min_dpi:
            out.append(
                fail(
                    "GD-3-5",
                    f"扫描分辨率 {f.dpi:.0f} dpi 低于 {min_dpi} dpi (DA/T 31)",
                    f.name,
                    f"≥{min_dpi}",
                    f"{f.dpi:.0f}",
                )
            )
    return out


def complete_report(report: CheckReport, ran: tuple[str, ...] = ITEM_CHECKS) -> CheckReport:
    """Add a 通过 finding for each check that ran and recorded no failure or warning."""
    seen = {f.code for f in report.findings}
    for code in ran:
        if code not in seen:
            report.add(Finding(code, Verdict.passed, f"{CHECKS[code][1]}: 通过"))
    report.findings.sort(key=lambda f: _code_order(f.code))
    return report


def _code_order(code: str) -> tuple[str, int, int]:
    prefix, prop, num = (code.split("-") + ["0", "0"])[:3]
    return prefix, int(prop) if prop.isdigit() else 0, int(num) if num.isdigit() else 0


def report_to_xml(report: CheckReport, archival_code: str | None, when: str) -> bytes:
    """The check report (检测报告) stored in the AIP as ``metadata/check-report.xml``."""
    root = etree.Element(
        "检测报告", 阶段=report.stage, 档号=archival_code or "", 时间=when, 结论="通过" if report.ok else "不通过"
    )
    for f in report.findings:
        el = etree.SubElement(root, "检测项", 代码=f.code, 结论=f.verdict.value)
        prop, name = CHECKS.get(f.code, ("", ""))
        if prop:
            el.set("性", prop)
            el.set("名称", name)
        for attr, value in (("文件", f.path), ("应为", f.expected), ("实为", f.found)):
            if value is not None:
                el.set(attr, value)
        el.text = f.message
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
