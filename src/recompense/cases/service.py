"""The cases desk's public API in one import: ``from recompense.cases import service``.

The functions live in their modules (:mod:`.desk` who and where, :mod:`.lifecycle` the
transitions, :mod:`.evidence` files, :mod:`.views` lists, details and the queue,
:mod:`.reasons` the words users read); the CLI and the web pages import them from here.
Every function takes the :class:`Desk`, the actor (an :class:`Actor` or its
``ROLE:ID`` string) and, where time matters, ``now`` (UTC; default: the desk's clock),
and raises only the errors of :mod:`.errors` (and the keyring's key errors).
"""

from __future__ import annotations

from recompense.cases.desk import Actor, CasePolicy, Desk, open_desk, parse_actor
from recompense.cases.errors import CaseConflict, CaseError, CaseForbidden, CaseNotFound
from recompense.cases.evidence import MAX_BYTES, MAX_FILES, Evidence, add_evidence, read_evidence
from recompense.cases.lifecycle import (
    Claim,
    Correction,
    Decision,
    accept,
    approve,
    assign,
    note,
    open_case,
    reject,
    request_info,
    respond,
    return_proposal,
    withdraw,
)
from recompense.cases.views import (
    CaseDetail,
    CaseSummary,
    Clock,
    DecisionView,
    EventView,
    EvidenceInfo,
    QueueRow,
    about_to_miss,
    case_detail,
    queue,
    user_cases,
)

__all__ = [
    "MAX_BYTES",
    "MAX_FILES",
    "Actor",
    "CaseConflict",
    "CaseDetail",
    "CaseError",
    "CaseForbidden",
    "CaseNotFound",
    "CasePolicy",
    "CaseSummary",
    "Claim",
    "Clock",
    "Correction",
    "Decision",
    "DecisionView",
    "Desk",
    "EventView",
    "Evidence",
    "EvidenceInfo",
    "QueueRow",
    "about_to_miss",
    "accept",
    "add_evidence",
    "approve",
    "assign",
    "case_detail",
    "note",
    "open_case",
    "open_desk",
    "parse_actor",
    "queue",
    "read_evidence",
    "reject",
    "request_info",
    "respond",
    "return_proposal",
    "user_cases",
    "withdraw",
]
