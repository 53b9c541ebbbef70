"""What the two streaming parsers share: UTF-8 decoded across chunks, in bounded blocks."""

from __future__ import annotations

import codecs
from collections.abc import Callable

from usagelens.domain.errors import SummaryFormatError

BLOCK = 1 << 18
"""Bytes decoded and parsed at a time, so a huge feed does not make huge temporaries."""


class Utf8Stream:
    """Decode UTF-8 arriving in pieces, reporting a bad byte by its offset in the whole."""

    def __init__(self, errors: str, describe: Callable[[int, bytes, str], str], offset: int = 0):
        self._errors = errors
        self._describe = describe
        self._pending = b""
        self._offset = offset  # offset in the payload of the first byte not yet decoded

    def decode(self, data: bytes | memoryview, *, final: bool = False) -> str:
        buffer = self._pending + data if self._pending else data
        try:
            text, used = codecs.utf_8_decode(buffer, self._errors, final)
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start : exc.start + 1]
            raise SummaryFormatError(
                self._describe(self._offset + exc.start, bad, exc.reason)
            ) from None
        self._pending = bytes(buffer[used:])
        self._offset += used
        return text
