"""Reading a TOML file into a strict Pydantic model, with errors an operator can act on.

Shared by the programme policy (:mod:`recompense.policy.model`) and the loan policy
(:mod:`recompense.loans.policy`), so both report a bad file the same way:

- ``FILE: no such KIND`` / ``FILE: cannot read KIND: REASON`` / ``FILE: not valid TOML: …``;
- one line per invalid key: ``FILE: key 'a.b': what is wrong (got VALUE)``.

Each caller passes its own :class:`~recompense.errors.InputError` subclass (exit code 2)
and the words that name its kind of file. This module sits beside :mod:`recompense.errors`
rather than in the ``policy`` package because importing anything there runs
``policy/__init__``, which loads the formula language (NumPy) and the dataset readers:
the loan desk would pay for them at start-up without using them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from recompense.errors import InputError

Model = TypeVar("Model", bound=BaseModel)


def read_toml(path: Path, *, kind: str, error: type[InputError]) -> dict[str, Any]:
    """The parsed TOML document at ``path``; ``error`` says why it cannot be had.

    ``kind`` names the file in the messages (``"programme file"``, ``"loan policy file"``).
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{path}: no such {kind}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {kind}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from exc


def validate_model(
    model: type[Model], raw: dict[str, Any], *, source: str, error: type[InputError]
) -> Model:
    """``raw`` validated as ``model``; ``error`` names every key at fault in ``source``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(describe(exc, source)) from exc


def describe(exc: ValidationError, source: str) -> str:
    """One line per error: ``SOURCE: key 'a.b': what is wrong (got VALUE)``.

    The value is left out where there is none (a missing key) or it is a whole table.
    """
    lines = []
    for item in exc.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required but missing"
        elif item["type"] == "extra_forbidden":
            message = "is not a known key (typo?)"
        got = item.get("input")
        shown = "" if item["type"] == "missing" or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{source}: key '{key}': {message}{shown}")
    return "\n".join(lines)
