"""What the two streaming parsers share: one feed and close, UTF-8 across chunks.

``StreamingParser`` decodes the bytes in bounded blocks (a bad byte named by its offset
in the whole payload), keeps the first fault for ``close``, and fills a batch through
the fast path, leaving to the precise parser what the fast path declines. A subclass
supplies the language: what to do with each decoded text and how to finish.
"""

from __future__ import annotations

import codecs
from abc import ABC, abstractmethod
from collections.abc import Callable

from usagelens.domain.batch import UsageBatch
from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.summary.fast import Collector

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
        """Return the text of the bytes decoded so far; a cut-off character waits."""
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


class StreamingParser(ABC):
    """Parse a payload fed in pieces into a UsageBatch, in bounded memory.

    A fault of the bytes (a bad byte; bad JSON) is raised at once, and again by every
    later call. A fault of the content (a bad record) is raised by ``close``, because a
    fault of the bytes later in the payload takes precedence.
    """

    def __init__(self, decoder: Utf8Stream | None) -> None:
        self._decoder = decoder  # None until a subclass knows how the bytes are encoded
        self._collector: Collector | None = Collector()  # None after a fault of the content
        self._pending: list[str] = []  # text not parsed yet, in order
        self._fault: SummaryFormatError | None = None  # the first fault of the content
        self._failed: SummaryFormatError | None = None  # a fault of the bytes
        self._closed = False

    def feed(self, chunk: bytes) -> None:
        """Parse the next bytes of the payload; raise SummaryFormatError on bad bytes."""
        if self._closed:
            raise ValueError("feed after close")
        if self._failed is not None:
            raise self._failed
        try:
            self._feed(chunk)
        except SummaryFormatError as exc:
            self._failed = exc
            raise

    def close(self) -> UsageBatch:
        """Finish the payload and return its batch; raise SummaryFormatError if it is bad."""
        if self._closed:
            raise ValueError("close after close")
        self._closed = True
        if self._failed is not None:
            raise self._failed
        return self._finish()

    def _feed(self, chunk: bytes | memoryview) -> None:
        """Decode the bytes block by block and take each block's text."""
        assert self._decoder is not None
        view = memoryview(chunk)
        for start in range(0, len(view), BLOCK):
            self._take(self._decoder.decode(view[start : start + BLOCK]))

    @abstractmethod
    def _take(self, text: str) -> None:
        """Parse as much as can be parsed once ``text`` follows the pending text."""

    @abstractmethod
    def _finish(self) -> UsageBatch:
        """Parse what is left at the end of the payload and return the batch."""

    def _reject(self, fault: SummaryFormatError) -> None:
        """Keep the content's first fault for ``close`` and stop filling the batch."""
        self._fault = fault
        self._collector = None

    def _batch(self) -> UsageBatch:
        """Return the batch, or raise the content's first fault."""
        if self._fault is not None:
            raise self._fault
        assert self._collector is not None
        return self._collector.batch
