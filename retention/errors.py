"""The typed errors of retention, appraisal and destruction (保管期限、鉴定、销毁).

Each class names one rule; ``rule`` carries a stable name for reports and scripts
(``destruction:not-proposer`` …). The bases live in :mod:`archive.errors`, so the CLI
maps all of them to exit codes in one place.
"""

from __future__ import annotations

from archive.errors import AppraisalError, DestructionRefusedError, RetentionError

__all__ = [
    "ApprovalTimeError",
    "BelowMinimumError",
    "InvalidBatchError",
    "InvalidDecisionError",
    "InvalidHoldError",
    "ItemHeldError",
    "MissingRoleError",
    "NoRetentionRuleError",
    "NotDestroyDecisionError",
    "NotDueError",
    "RoleConflictError",
    "SelfApprovalError",
    "SenderCopyKeptError",
    "TooFewApproversError",
    "UnknownItemError",
]


class NoRetentionRuleError(RetentionError):
    """保管期限代码无法识别或不为本门类所用: the code is unknown, or no rule accepts it."""


class BelowMinimumError(RetentionError):
    """保管期限低于法定最低期限: e.g. a 会计凭证 coded D10 where the table says 30 years."""


class InvalidDecisionError(AppraisalError):
    """鉴定意见无效: missing reason or signatory, wrong period, or not applicable to the item."""


class InvalidHoldError(AppraisalError):
    """冻结无效: a disposal hold without scope, reason or person, or lifted inconsistently."""


class InvalidBatchError(DestructionRefusedError):
    """销毁批次无效: no items, an item twice, or a batch without id or proposer."""


class SelfApprovalError(DestructionRefusedError):
    """提出人不得批准本批次: the proposer cannot approve their own batch."""


class ApprovalTimeError(DestructionRefusedError):
    """批准时间早于提出时间: an approval predates the proposal it approves."""


class RoleConflictError(DestructionRefusedError):
    """一人不得兼任两个审批角色: one person signed in two roles (e.g. 鉴定小组 and 监销人)."""


class TooFewApproversError(DestructionRefusedError):
    """审批人不足: fewer distinct named approvers than the policy requires (two)."""


class MissingRoleError(DestructionRefusedError):
    """缺少必需的审批角色: no 鉴定小组 member, no 单位负责人, or fewer than two 监销人."""


class UnknownItemError(DestructionRefusedError):
    """批次中的档号不在目录中: the batch names an item whose metadata was not supplied."""


class NotDestroyDecisionError(DestructionRefusedError):
    """鉴定意见不是销毁: an item in a destruction batch was appraised to be kept."""


class ItemHeldError(DestructionRefusedError):
    """档案处于冻结状态: an item is under a disposal hold (法律冻结) and cannot be destroyed."""


class NotDueError(DestructionRefusedError):
    """保管期限未满: the item's appraisal date has not passed, or it is 永久."""


class SenderCopyKeptError(NotDueError):
    """已移交副本保留期未满: a transferred record's copy is kept ``keep_copy_years`` after the transfer."""
