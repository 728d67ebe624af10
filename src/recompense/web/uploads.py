"""Uploaded files read into memory under limits, never onto disk.

Starlette's own form parser keeps any file over 1 MiB in a temporary file and limits
neither a file's size nor the total: a trader's exports would touch the disk, and a
2 GB upload would be written out before anything could refuse it. The self-check reads
the ``multipart/form-data`` body itself, with python-multipart's streaming parser, as
it arrives: each part's bytes accumulate in memory, and the request is refused the
moment a limit is passed (a ``Content-Length`` already past the total is refused before
a byte is read). Nothing is spooled, so nothing can remain on disk.

Refusals are :class:`UploadRefused`: an HTTP status (400 malformed, 413 too large, 422
a file the form does not take) and a message key with its values, put into words in the
caller's language by the page (:mod:`recompense.web.messages`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from recompense.imports.binance import Upload

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MIB = 1024 * 1024
HEADROOM = 64 * 1024  # part headers, boundaries and the small fields, beyond the files
MAX_NAME_CHARS = 200
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Limits:
    files: int = 12
    file_bytes: int = 5 * MIB
    total_bytes: int = 20 * MIB  # the files' bytes together
    fields: int = 8  # the small text fields (CSRF token, net assets)
    field_bytes: int = 1024
    suffixes: tuple[str, ...] = (".csv", ".json")

    @property
    def body_bytes(self) -> int:
        return self.total_bytes + HEADROOM


@dataclass(frozen=True, slots=True)
class UploadedForm:
    fields: dict[str, str]
    files: tuple[Upload, ...]  # in the order sent; empty file inputs left out


class UploadRefused(Exception):
    """The upload cannot be taken: ``status`` and a message ``key`` with its ``values``."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


async def read_form(
    content_type: str,
    content_length: str | None,
    stream: AsyncIterator[bytes],
    limits: Limits,
    on_field: Callable[[str, str], None] | None = None,
) -> UploadedForm:
    """The form's fields and files, held to ``limits`` while the body arrives.

    ``on_field(name, value)`` sees each text field as soon as it is complete (the CSRF
    token, which the page puts first, is then checked before any file is read).
    """
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise UploadRefused(400, "upload_not_multipart")
    declared = int(content_length) if content_length and content_length.isdigit() else 0
    if declared > limits.body_bytes:
        raise UploadRefused(413, "upload_too_large", total=limits.total_bytes // MIB)
    reader = _Reader(limits, on_field)
    try:
        parser = MultipartParser(params[b"boundary"], reader.callbacks())
        received = 0
        async for chunk in stream:
            received += len(chunk)
            if received > limits.body_bytes:
                raise UploadRefused(413, "upload_too_large", total=limits.total_bytes // MIB)
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadRefused(400, "upload_malformed") from exc
    if not reader.ended:
        raise UploadRefused(400, "upload_malformed")
    return UploadedForm(reader.fields, tuple(reader.files))


class _Reader:
    """python-multipart's callbacks: one part at a time, in memory, under the limits."""

    def __init__(self, limits: Limits, on_field: Callable[[str, str], None] | None) -> None:
        self.limits = limits
        self.on_field = on_field
        self.fields: dict[str, str] = {}
        self.files: list[Upload] = []
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._name = ""
        self._filename: str | None = None
        self._data = bytearray()
        self._parts = 0
        self._file_parts = 0
        self._file_bytes = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _begin(self) -> None:
        self._disposition, self._name, self._filename = b"", "", None
        self._data = bytearray()
        self._parts += 1
        if self._parts > self.limits.files + self.limits.fields + 1:  # + 1 empty input
            raise UploadRefused(413, "upload_too_many_files", files=self.limits.files)

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise UploadRefused(400, "upload_malformed")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:
            return
        self._filename = options[b"filename"].decode("utf-8", "replace")
        if not self._filename:
            return  # a file input left empty (checked again at its end)
        self._file_parts += 1
        if self._file_parts > self.limits.files:
            raise UploadRefused(413, "upload_too_many_files", files=self.limits.files)
        name = safe_name(self._filename)
        if not name.lower().endswith(self.limits.suffixes):
            raise UploadRefused(
                422, "upload_wrong_kind", name=name, kinds=", ".join(self.limits.suffixes)
            )
        self._filename = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._filename is None:
            if len(self._data) + size > self.limits.field_bytes:
                raise UploadRefused(413, "upload_field_too_large", field=self._name[:40])
        else:
            self._file_bytes += size
            if len(self._data) + size > self.limits.file_bytes:
                raise UploadRefused(
                    413, "upload_file_too_large", name=self._filename[:80],
                    limit=self.limits.file_bytes // MIB,
                )  # fmt: skip
            if self._file_bytes > self.limits.total_bytes:
                raise UploadRefused(413, "upload_too_large", total=self.limits.total_bytes // MIB)
        self._data.extend(data[start:end])

    def _part_end(self) -> None:
        if self._filename is None:
            if len(self.fields) >= self.limits.fields:
                raise UploadRefused(413, "upload_too_many_fields")
            value = self._data.decode("utf-8", "replace")
            self.fields[self._name] = value
            if self.on_field is not None:
                self.on_field(self._name, value)
            return
        if not self._filename:
            if self._data:
                raise UploadRefused(400, "upload_malformed")  # bytes without a file name
            return  # a file input left empty: browsers still send the part
        self.files.append(Upload(self._filename, bytes(self._data)))
        self._data = bytearray()

    def _end(self) -> None:
        self.ended = True


def safe_name(filename: str) -> str:
    """The file's own name (no folders, no control characters), at most 200 characters.

    The name only labels the file in messages (``file.csv:12``); it never becomes a path.
    """
    base = PurePosixPath(filename.replace("\\", "/")).name
    base = _UNSAFE.sub("", base).strip() or "upload"
    return base[-MAX_NAME_CHARS:]
