"""What a notification says: the payload contract and the localized texts.

The payload is the JSON distribution writes into ``notifications.payload``
(:func:`recompense.distribution.distribute._outbox_rows`): ``program_id``,
``program_name``, ``voucher_id``, ``user_id``, ``amount_cents`` (integer cents),
``currency`` and ``expires_at`` (ISO 8601 with offset), and ``"method": "credit"`` for a
direct credit (the amount is already in the user's wallet: the message says so, with no
redeem button and no expiry). A payload that doesn't parse is a permanent failure:
retrying cannot repair it.

Texts exist in English and Spanish; the language is the locale's prefix (``es-MX`` →
``es``), anything else falls back to English. Amounts are written with
:func:`recompense.money.format_usd` in every language (``$1,234.56 USDC``): exact, and
the same digits a user sees in the app, whatever the regional decimal separator. Expiry
is shown in UTC.

The bodies are Jinja2 templates in ``notify/messages/`` (:func:`recompense.rendering.environment`):
``voucher.txt``/``voucher.html`` and ``case.txt``/``case.html``. The HTML part
autoescapes every value (a programme name, a URL, a case reference); the text part,
a ``.txt`` template, shows them verbatim. The wording stays here, in :data:`STRINGS`
and :data:`CASE_STRINGS`, so both parts and the push notification say the same thing.

A payload with ``"kind": "case"`` is about a user's case (:mod:`recompense.cases.notices`:
``event``, ``case_id``, ``program_id``, ``user_id``, ``state``, ``category``,
``reason_code``): :func:`parse_notice` returns a :class:`CaseNotice`, rendered by
:func:`render_case_email` / :func:`render_case_push` with the category and reason texts
of :mod:`recompense.cases.reasons`. Voucher payloads (no ``kind``) render as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from string import Formatter
from typing import Any

from jinja2 import Environment

from recompense.cases.reasons import category_label, reason_text, state_label
from recompense.money import format_usd
from recompense.notify.errors import PermanentDeliveryError
from recompense.rendering import environment

DEFAULT_LANGUAGE = "en"
MESSAGES = Path(__file__).parent / "messages"


@dataclass(frozen=True, slots=True)
class Voucher:
    """The payload of a voucher-issued notification."""

    program_id: str
    program_name: str
    voucher_id: str
    user_id: int
    amount_cents: int
    currency: str
    expires_at: datetime  # UTC
    credited: bool = False  # a direct credit ("method": "credit"): nothing to redeem

    @property
    def amount(self) -> str:
        return f"{format_usd(self.amount_cents)} {self.currency}"


@dataclass(frozen=True, slots=True)
class EmailContent:
    """An email in one language: subject (one line), plain text and HTML bodies."""

    language: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class PushContent:
    language: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Strings:
    subject: str
    greeting: str
    intro: str
    amount_label: str
    expiry_label: str
    redeem_label: str
    button: str
    warning: str
    reference_label: str
    footer: str
    push_title: str
    push_body: str
    months: str  # twelve names, space-separated
    date_format: str  # fields: day, month, year, time
    # A direct credit: the amount is in the user's wallet already.
    credit_subject: str
    credit_intro: str
    credit_where: str
    credit_push_title: str
    credit_push_body: str
    credit_reference_label: str


STRINGS = {
    "en": Strings(
        subject="You have received a {amount} voucher",
        greeting="Hello,",
        intro="As part of {program}, we have credited your account with a voucher worth {amount}.",
        amount_label="Amount",
        expiry_label="Expires",
        redeem_label="Redeem it in the Rewards Hub",
        button="Redeem your voucher",
        warning="Redeem it before it expires: after that it can no longer be used.",
        reference_label="Voucher reference",
        footer="This is an automated message; please do not reply.",
        push_title="You have received a {amount} voucher",
        push_body="Redeem it in the Rewards Hub before {expiry}.",
        months="January February March April May June "
        "July August September October November December",
        date_format="{day} {month} {year}, {time} UTC",
        credit_subject="{amount} has been credited to your account",
        credit_intro="As part of {program}, we have credited {amount} to your account.",
        credit_where="You can see it in the Rewards Hub",
        credit_push_title="{amount} credited to your account",
        credit_push_body="{program}: nothing to do, it is in your reward wallet.",
        credit_reference_label="Payment reference",
    ),
    "es": Strings(
        subject="Has recibido un cupón de {amount}",
        greeting="Hola:",
        intro="Como parte de {program}, hemos acreditado en tu cuenta un cupón por "
        "valor de {amount}.",
        amount_label="Importe",
        expiry_label="Caduca",
        redeem_label="Canjéalo en el Centro de recompensas",
        button="Canjear el cupón",
        warning="Canjéalo antes de que caduque: después ya no podrá usarse.",
        reference_label="Referencia del cupón",
        footer="Este es un mensaje automático; por favor, no respondas.",
        push_title="Has recibido un cupón de {amount}",
        push_body="Canjéalo en el Centro de recompensas antes del {expiry}.",
        months="enero febrero marzo abril mayo junio "
        "julio agosto septiembre octubre noviembre diciembre",
        date_format="{day} de {month} de {year}, {time} UTC",
        credit_subject="Hemos abonado {amount} en tu cuenta",
        credit_intro="Como parte de {program}, hemos abonado {amount} en tu cuenta.",
        credit_where="Puedes verlo en el Centro de recompensas",
        credit_push_title="{amount} abonados en tu cuenta",
        credit_push_body="{program}: no tienes que hacer nada, ya está en tu monedero de "
        "recompensas.",
        credit_reference_label="Referencia del abono",
    ),
}


def parse_payload(notification_id: str, channel: str, payload: str) -> Voucher:
    """The payload as a :class:`Voucher`, or a permanent error naming what is wrong."""
    try:
        data: dict[str, Any] = json.loads(payload)
        expires = datetime.fromisoformat(data["expires_at"])
        if expires.tzinfo is None:
            raise ValueError(f"expires_at {data['expires_at']!r} has no time zone")
        voucher = Voucher(
            program_id=str(data["program_id"]),
            program_name=str(data.get("program_name") or data["program_id"]),
            voucher_id=str(data["voucher_id"]),
            user_id=_integer(data["user_id"]),
            amount_cents=_integer(data["amount_cents"]),
            currency=str(data["currency"]),
            expires_at=expires.astimezone(UTC),
            credited=data.get("method") == "credit",
        )
    except (ValueError, TypeError, KeyError) as exc:
        reason = f"malformed payload ({type(exc).__name__}: {exc})"
        raise PermanentDeliveryError(notification_id, channel, reason) from exc
    if voucher.amount_cents <= 0:
        reason = f"malformed payload (amount_cents {voucher.amount_cents} is not positive)"
        raise PermanentDeliveryError(notification_id, channel, reason)
    return voucher


def language(locale: str) -> str:
    """``es``, ``es-MX``, ``es_ES`` → ``es``; unknown or empty → ``en``."""
    prefix = locale.strip().replace("_", "-").split("-", 1)[0].lower()
    return prefix if prefix in STRINGS else DEFAULT_LANGUAGE


def render_email(voucher: Voucher, locale: str, redeem_url: str) -> EmailContent:
    """Subject, text and HTML bodies for ``voucher`` in the user's language."""
    lang = language(locale)
    s = STRINGS[lang]
    expiry = format_expiry(voucher.expires_at, lang)
    fields = {"amount": voucher.amount, "program": voucher.program_name, "expiry": expiry}
    subject = (s.credit_subject if voucher.credited else s.subject).format(**fields)
    intro = s.credit_intro if voucher.credited else s.intro
    context = {
        "lang": lang,
        "s": s,
        "credited": voucher.credited,
        "title": subject,
        "intro": _pieces(intro),  # the HTML part sets the filled-in values in bold
        "fields": fields,
        "amount": voucher.amount,
        "expiry": expiry,
        "url": redeem_url,
        "voucher_id": voucher.voucher_id,
    }
    return EmailContent(
        language=lang,
        subject=_one_line(subject),
        text=_render("voucher.txt", context),
        html=_render("voucher.html", context),
    )


def render_push(voucher: Voucher, locale: str) -> PushContent:
    """Title and body of the app notification in the user's language."""
    lang = language(locale)
    s = STRINGS[lang]
    fields = {
        "amount": voucher.amount,
        "expiry": format_expiry(voucher.expires_at, lang),
        "program": voucher.program_name,
    }
    if voucher.credited:
        title, body = s.credit_push_title, s.credit_push_body
    else:
        title, body = s.push_title, s.push_body
    return PushContent(lang, title.format(**fields), body.format(**fields))


@lru_cache(maxsize=1024)  # a batch's vouchers share a handful of expiry instants
def format_expiry(moment: datetime, lang: str) -> str:
    """``10 November 2025, 12:00 UTC`` / ``10 de noviembre de 2025, 12:00 UTC``."""
    s = STRINGS[lang]
    at = moment.astimezone(UTC)
    return s.date_format.format(
        day=at.day, month=s.months.split()[at.month - 1], year=at.year, time=f"{at:%H:%M}"
    )


def _render(name: str, context: dict[str, Any]) -> str:
    """``messages/name`` with ``context``: escaped if ``.html``, verbatim if ``.txt``."""
    return _environment().get_template(name).render(context)


@cache
def _environment() -> Environment:
    return environment(MESSAGES)


@cache
def _pieces(sentence: str) -> tuple[tuple[str, str | None], ...]:
    """``"As part of {program}, …"`` → ``(("As part of ", "program"), (", …", None))``."""
    return tuple((text, field) for text, field, _, _ in Formatter().parse(sentence))


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not an integer")
    return value


def _one_line(text: str) -> str:
    """Header-safe: no CR/LF (header injection), runs of whitespace collapsed."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class CaseNotice:
    """The payload of a notification about a user's case (no amounts, no free text)."""

    event: str  # opened | info_requested | accepted | rejected
    case_id: str
    program_id: str
    user_id: int
    state: str
    category: str
    reason_code: str | None


CASE_EVENTS = ("opened", "info_requested", "accepted", "rejected")

# event → language → (subject/push title, body paragraph); {category} {reference} filled in.
CASE_STRINGS: dict[str, dict[str, tuple[str, str]]] = {
    "opened": {
        "en": (
            "We received your case",
            "We received your case ({category}). We aim to decide it within a few days and "
            "will tell you here when we have.",
        ),
        "es": (
            "Hemos recibido tu caso",
            "Hemos recibido tu caso ({category}). Intentamos resolverlo en pocos días y te "
            "avisaremos por aquí cuando lo hagamos.",
        ),
    },
    "info_requested": {
        "en": (
            "We need more information about your case",
            "To decide your case ({category}) we need more information from you. Open your "
            "case in the app to read our question and answer it.",
        ),
        "es": (
            "Necesitamos más información sobre tu caso",
            "Para resolver tu caso ({category}) necesitamos más información. Abre tu caso en "
            "la aplicación para leer nuestra pregunta y responderla.",
        ),
    },
    "accepted": {
        "en": (
            "Your case was accepted",
            "We accepted your case ({category}). The difference will be paid in the "
            "programme's next amendment; you will receive a voucher notice then.",
        ),
        "es": (
            "Tu caso ha sido aceptado",
            "Hemos aceptado tu caso ({category}). La diferencia se pagará en la próxima "
            "modificación del programa; entonces recibirás el aviso de tu cupón.",
        ),
    },
    "rejected": {
        "en": (
            "Your case was not accepted",
            "We decided your case ({category}) and could not accept it: {reason}",
        ),
        "es": (
            "Tu caso no ha sido aceptado",
            "Hemos resuelto tu caso ({category}) y no hemos podido aceptarlo: {reason}",
        ),
    },
}
CASE_LABELS = {
    "en": ("Status", "Case reference", "See your case in the app."),
    "es": ("Estado", "Referencia del caso", "Consulta tu caso en la aplicación."),
}


def parse_notice(notification_id: str, channel: str, payload: str) -> Voucher | CaseNotice:
    """A voucher payload (:func:`parse_payload`) or a case payload (``"kind": "case"``)."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("kind") != "case":
        return parse_payload(notification_id, channel, payload)
    try:
        notice = CaseNotice(
            event=str(data["event"]),
            case_id=str(data["case_id"]),
            program_id=str(data["program_id"]),
            user_id=_integer(data["user_id"]),
            state=str(data["state"]),
            category=str(data["category"]),
            reason_code=None if data.get("reason_code") is None else str(data["reason_code"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        reason = f"malformed case payload ({type(exc).__name__}: {exc})"
        raise PermanentDeliveryError(notification_id, channel, reason) from exc
    if notice.event not in CASE_EVENTS:
        reason = f"malformed case payload (event {notice.event!r} is not one of {CASE_EVENTS})"
        raise PermanentDeliveryError(notification_id, channel, reason)
    return notice


def render_case_email(notice: CaseNotice, locale: str) -> EmailContent:
    """Subject, text and HTML bodies of a case notice in the user's language."""
    lang = language(locale)
    subject, body = _case_text(notice, lang)
    status_label, reference_label, see = CASE_LABELS[lang]
    context = {
        "lang": lang,
        "s": STRINGS[lang],
        "title": subject,
        "body": body,
        "status_label": status_label,
        "state": state_label(notice.state, lang),
        "see": see,
        "reference_label": reference_label,
        "case_id": notice.case_id,
    }
    text, page = _render("case.txt", context), _render("case.html", context)
    return EmailContent(lang, _one_line(subject), text, page)


def render_case_push(notice: CaseNotice, locale: str) -> PushContent:
    """Title and body of a case notice's app notification in the user's language."""
    lang = language(locale)
    title, body = _case_text(notice, lang)
    return PushContent(lang, title, body)


def _case_text(notice: CaseNotice, lang: str) -> tuple[str, str]:
    subject, body = CASE_STRINGS[notice.event][lang]
    reason = reason_text(notice.reason_code, lang) if notice.reason_code else ""
    return subject, body.format(category=category_label(notice.category, lang), reason=reason)
