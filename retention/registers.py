"""登记簿册 (registers): the printed and exchanged records of destruction and transfer.

Each function turns plain rows into bytes (or text); the caller decides where to write
them and how atomically. All of them are pure: the same rows give the same bytes
(pass ``created`` to the PDF writer to pin its timestamp).

- 销毁清册 (destruction register): :func:`destruction_register_xlsx`, :func:`destruction_register_pdf`
- 移交清册 (transfer list, 文件目录.XML): :func:`transfer_list_xml`, :func:`transfer_list_xlsx`,
  and for the receiver :func:`read_transfer_list`
- 交接登记表 (handover record): :func:`handover_xml`, and for the receiver :func:`read_handover`;
  说明文件: :func:`transfer_readme`
- any other A4 register table as PDF (the 归档文件目录): :func:`register_pdf`
- the receiver's cross-checks of those papers: :func:`handover_findings`, :func:`sheet_findings`,
  :func:`readme_findings`
"""

from __future__ import annotations

from ._destruction_register import (
    DESTRUCTION_COLUMNS,
    DestructionRegister,
    DestructionRow,
    destruction_register_pdf,
    destruction_register_xlsx,
)
from ._handover import CHECKS, AipDigest, Handover, handover_xml, read_handover, transfer_readme
from ._pdf import find_cjk_font, register_pdf
from ._register_checks import handover_findings, readme_findings, sheet_findings
from ._transfer_list import (
    TRANSFER_COLUMNS,
    TransferRow,
    read_transfer_list,
    record_name_for,
    transfer_list_xlsx,
    transfer_list_xml,
    transfer_rows,
)

__all__ = [
    "CHECKS",
    "DESTRUCTION_COLUMNS",
    "TRANSFER_COLUMNS",
    "AipDigest",
    "DestructionRegister",
    "DestructionRow",
    "Handover",
    "TransferRow",
    "destruction_register_pdf",
    "destruction_register_xlsx",
    "find_cjk_font",
    "handover_findings",
    "handover_xml",
    "read_handover",
    "readme_findings",
    "sheet_findings",
    "read_transfer_list",
    "record_name_for",
    "register_pdf",
    "transfer_list_xlsx",
    "transfer_list_xml",
    "transfer_readme",
    "transfer_rows",
]
