"""Settings declared once: every ``RECOMPENSE_*`` variable is a field of one class.

Each process kind or concern has one :class:`RecompenseSettings` subclass (the ledger
database's limits, the engine's backends, the notification worker, the web service, the
commitment key, the cases' keys, the loan desk), read once where the process starts (the
CLI command or the server) and passed down from there. The classes are
``pydantic-settings`` models with the ``RECOMPENSE_`` prefix; each field's environment
name is exact and case-sensitive (``RECOMPENSE_DB_LOCK_TIMEOUT``, never a lower-case
spelling), and ``docs/operations.md`` ("Settings") is generated from them
(:func:`settings_table`), so the table cannot drift from the code.

Contract:

- :meth:`RecompenseSettings.from_env` reads ``os.environ``, or the mapping given (tests);
  constructing a class directly (``DatabaseSettings(retries=0)``) takes the values given
  and the defaults, never the environment.
- Values arrive as text from the environment and are parsed by the class's own
  validators, which raise :class:`SettingValueError` with the message the user sees
  (``RECOMPENSE_DB_LOCK_TIMEOUT='soon': not a number of seconds``). Every failure becomes
  the class's :attr:`~RecompenseSettings.error` (an :class:`~recompense.errors.InputError`
  subclass: exit 2, no traceback), naming the variable and the value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Self

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from recompense.errors import InputError

PREFIX = "RECOMPENSE_"

# The environment the next from_env() reads: None outside from_env (no environment at all).
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("recompense_environ", default=None)


class SettingValueError(ValueError):
    """A value that cannot be used; its text is the whole message the user sees."""


class RecompenseSettings(BaseSettings):
    """Base of every settings class: exact variable names, messages, one error type."""

    model_config = {
        "env_prefix": PREFIX,
        "case_sensitive": True,
        "frozen": True,
        "extra": "ignore",
        "validate_by_name": True,
        "validate_by_alias": True,
    }

    error: ClassVar[type[InputError]] = InputError  # what a bad value raises (exit 2)
    env_prefix: ClassVar[str] = PREFIX  # a field's variable: prefix + NAME, unless aliased
    process: ClassVar[str] = ""  # who reads it, for the documentation table

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise self.error(_message(exc, type(self))) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **values: Any) -> Self:
        """The defaults ← the environment (``os.environ`` unless ``env``) ← ``values``."""
        with _reading(os.environ if env is None else env):
            return cls(**values)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        info = cls.model_fields[field]
        alias = info.validation_alias
        return alias if isinstance(alias, str) else cls.env_prefix + field.upper()

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated like any other (unlike ``model_copy``)."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given in code, then the environment being read (no dotenv, no secrets
        directory: only the variables documented)."""
        environ = _environ.get()
        if environ is None:
            return (init_settings,)
        return init_settings, _MappingSource(settings_cls, environ)


def settings_table(classes: Iterable[type[RecompenseSettings]]) -> str:
    """A Markdown table of every variable of ``classes``: name, type, default, reader."""
    lines = [
        "| Variable | Type | Default | Read by | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cls in classes:
        for name, info in cls.model_fields.items():
            row = (
                f"`{cls.env_name(name)}`",
                _type_name(info),
                _default(info),
                cls.process,
                (info.description or "").replace("|", "\\|"),
            )
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, over a given mapping."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(self._environ)  # exact names: get_field_value looks them up as given

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """The raw text of the field's one variable (never decoded as JSON)."""
        owner = self.settings_cls
        if not issubclass(owner, RecompenseSettings):
            raise TypeError(f"{owner.__name__} is not a RecompenseSettings")
        name = owner.env_name(field_name)
        return self.env_vars.get(name), name, False

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        return value


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _environ.set(environ)
    try:
        yield
    finally:
        _environ.reset(token)


def _message(exc: ValidationError, cls: type[RecompenseSettings]) -> str:
    """The first problem, as the user should read it: our validators' own text, else
    ``VARIABLE=value: pydantic's reason``."""
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, SettingValueError):
        return str(cause)
    location = error["loc"][0] if error["loc"] else ""
    field = str(location)
    if field in cls.model_fields:
        field = cls.env_name(field)
    return f"{field}={error.get('input')!r}: {error['msg']}"


def _type_name(info: FieldInfo) -> str:
    """The field's ``kind`` (declared for text with a meaning), else its Python type."""
    extra = info.json_schema_extra
    kind = extra.get("kind") if isinstance(extra, dict) else None
    if isinstance(kind, str):
        return kind
    words = {int: "integer", float: "number", bool: "boolean", str: "text"}
    for python, word in words.items():
        if info.annotation in (python, python | None):
            return word
    return str(info.annotation)


def _default(info: FieldInfo) -> str:
    default = info.get_default(call_default_factory=True)
    if default in (None, "", ()):
        return "unset"
    return f"`{default}`"
