"""The words users read about their cases, in English and Spanish — in one place.

Reason codes are stable (stored in ``cases.reason_code``, sent in notification payloads,
keyed on by the web pages); the sentences explain them to the user in their language.
Notifications (:mod:`recompense.notify.templates`) and the web pages import these
mappings; nothing else spells them out. :func:`text` falls back to English for a locale
without a translation (``es-AR`` → ``es``, ``fr`` → ``en``).
"""

from __future__ import annotations

from collections.abc import Mapping

from recompense.cases.schema import CASE_STATES, CATEGORIES

LOCALES = ("en", "es")

# code → {locale: the explanation the user reads}
REASONS: Mapping[str, Mapping[str, str]] = {
    "LOSS_CONFIRMED": {
        "en": "We checked your fills during the incident: the loss we published stands.",
        "es": "Revisamos sus ejecuciones durante el incidente: la pérdida publicada se mantiene.",
    },
    "NET_ASSETS_CONFIRMED": {
        "en": "We checked your balances at the snapshot: the net assets we used stand.",
        "es": "Revisamos sus saldos en la instantánea: el patrimonio neto utilizado se mantiene.",
    },
    "NOT_FORCED_LIQUIDATION": {
        "en": "The positions you name were closed by you, not by a forced liquidation.",
        "es": "Las posiciones que menciona las cerró usted; no fue una liquidación forzosa.",
    },
    "OUTSIDE_WINDOW": {
        "en": "What you describe happened outside the programme's incident window.",
        "es": "Lo que describe ocurrió fuera de la ventana del incidente del programa.",
    },
    "PRODUCT_NOT_COVERED": {
        "en": "The product involved is not covered by this programme.",
        "es": "El producto afectado no está cubierto por este programa.",
    },
    "ALREADY_COMPENSATED_CONFIRMED": {
        "en": "Our records confirm you were already compensated for this loss.",
        "es": "Nuestros registros confirman que ya fue compensado por esta pérdida.",
    },
    "INSUFFICIENT_EVIDENCE": {
        "en": "The information provided was not enough to change the result.",
        "es": "La información aportada no fue suficiente para cambiar el resultado.",
    },
    "DUPLICATE_CASE": {
        "en": "This case repeats another of your cases, which we are deciding.",
        "es": "Este caso repite otro de sus casos, que estamos resolviendo.",
    },
    "NOT_VERIFIED": {
        "en": "We could not verify a delayed transfer or redemption at the time you gave.",
        "es": "No pudimos verificar una transferencia o un rescate demorado en la hora indicada.",
    },
}
REASON_CODES: tuple[str, ...] = tuple(REASONS)

CATEGORY_LABELS: Mapping[str, Mapping[str, str]] = {
    "appeal_eligibility": {"en": "I should be eligible", "es": "Debería ser elegible"},
    "appeal_loss": {"en": "My loss is wrong", "es": "Mi pérdida es incorrecta"},
    "appeal_net_assets": {
        "en": "My net assets are wrong",
        "es": "Mi patrimonio neto es incorrecto",
    },
    "claim_transfer": {
        "en": "A delayed internal transfer",
        "es": "Una transferencia interna demorada",
    },
    "claim_earn": {"en": "A delayed Earn redemption", "es": "Un rescate de Earn demorado"},
}

STATE_LABELS: Mapping[str, Mapping[str, str]] = {
    "open": {"en": "Open: we are reviewing it", "es": "Abierto: lo estamos revisando"},
    "info_requested": {
        "en": "Waiting for your answer",
        "es": "Esperando su respuesta",
    },
    "proposed": {
        "en": "Decision awaiting a second review",
        "es": "Decisión pendiente de una segunda revisión",
    },
    "accepted": {"en": "Accepted", "es": "Aceptado"},
    "rejected": {"en": "Not accepted", "es": "No aceptado"},
    "withdrawn": {"en": "Withdrawn", "es": "Retirado"},
}

if set(CATEGORY_LABELS) != set(CATEGORIES) or set(STATE_LABELS) != set(CASE_STATES):
    raise RuntimeError("cases.reasons: labels and schema disagree")  # caught at import


def language(locale: str) -> str:
    """``es-AR`` → ``es``; anything we do not translate → ``en``."""
    base = (locale or "en").split("-")[0].split("_")[0].lower()
    return base if base in LOCALES else "en"


def text(table: Mapping[str, Mapping[str, str]], code: str, locale: str) -> str:
    """The sentence for ``code`` in ``locale`` (English if untranslated; the code if unknown)."""
    entry = table.get(code)
    return code if entry is None else entry[language(locale)]


def reason_text(code: str, locale: str) -> str:
    return text(REASONS, code, locale)


def category_label(category: str, locale: str) -> str:
    return text(CATEGORY_LABELS, category, locale)


def state_label(state: str, locale: str) -> str:
    return text(STATE_LABELS, state, locale)
