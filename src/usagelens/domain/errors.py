"""The usagelens error tree.

Every error the package raises on purpose derives from ``UsageLensError``::

    UsageLensError
    ├── InvalidInput                 a payload the caller sent is malformed (a 4xx)
    │   ├── SummaryFormatError       a usage summary does not fit SPEC 1.1
    │   ├── PriceListError           a price list does not fit SPEC 1.2
    │   ├── PolicyError              a policy document is malformed
    │   ├── PushEventError           a pushed request event is malformed
    │   ├── PayloadTooLarge          a body exceeds the configured size limit
    │   ├── InvalidName              a name is empty, too long or holds control characters
    │   └── RejectedByStore          the database refused a value (too long, a NUL, a constraint)
    ├── NotFound                     what was asked for is not stored (a 404)
    ├── NotConfigured                the operation needs a setting that is missing
    │   └── PolicyMismatch           this process's policy is not the store's
    ├── SourceError                  pulling from a monitoring source failed
    │   ├── SourceUnavailable        the source could not be reached or answered 5xx
    │   └── SourceNotFound           the source answered 404 (e.g. an unknown branch)
    ├── StorageError                 the database failed in a way that is nobody's input (a 500)
    │   └── StorageUnavailable       the database is away, shutting down or busy (a 503)
    ├── IllegalMove                  a recommendation cannot go to that state from its own (409)
    ├── ShuttingDown                 the process got SIGTERM and takes no new work
    └── LeaseLost                    a refresh outlived its lease; its late writes are refused

The API maps these to RFC 9457 problem details in one place (``usagelens.api.errors``).
"""

from __future__ import annotations


class UsageLensError(Exception):
    """Base of every error usagelens raises on purpose."""


class InvalidInput(UsageLensError):
    """Reject a payload that the caller sent malformed."""


class SummaryFormatError(InvalidInput):
    """Reject a usage summary, naming the team, record and field at fault."""

    def __init__(
        self,
        message: str,
        *,
        team_index: int | None = None,
        team: str | None = None,
        record_index: int | None = None,
        field: str | None = None,
    ) -> None:
        self.team_index = team_index
        self.team = team
        self.record_index = record_index
        self.field = field
        self.reason = message
        super().__init__(self._locate() + message)

    def _locate(self) -> str:
        parts = []
        if self.team_index is not None:
            name = f" {self.team!r}" if self.team else ""
            parts.append(f"team {self.team_index}{name}")
        elif self.team:
            parts.append(f"team {self.team!r}")
        if self.record_index is not None:
            parts.append(f"record {self.record_index}")
        return ", ".join(parts) + ": " if parts else ""


class PriceListError(InvalidInput):
    """Reject a price list that does not fit the monitoring module's format."""


class PolicyError(InvalidInput):
    """Reject a policy document with unknown keys or impossible thresholds."""


class PushEventError(InvalidInput):
    """Reject a pushed request event (status, endpoint or time out of bounds)."""


class PayloadTooLarge(InvalidInput):
    """Reject a request body larger than the configured limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body exceeds the limit of {limit} bytes")


class NotFound(UsageLensError):
    """Report that what the caller named is not stored."""


class NotConfigured(UsageLensError):
    """Refuse an operation that needs a setting nobody gave."""


class SourceError(UsageLensError):
    """Report that pulling from a monitoring source failed."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class SourceUnavailable(SourceError):
    """Report a source that could not be reached, timed out or answered 5xx."""


class SourceNotFound(SourceError):
    """Report a source that answered 404 for what was asked (an unknown branch)."""


class InvalidName(InvalidInput):
    """Reject a name (team, resource, origin, source, label) the one rule for ids refuses."""


class RejectedByStore(InvalidInput):
    """Reject a value the database refused: too long, a NUL byte, a broken constraint."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class StorageError(UsageLensError):
    """Report a database failure that is neither the caller's input nor an outage."""


class StorageUnavailable(StorageError):
    """Report a database that cannot be reached, is shutting down or is too busy: retry."""


class PolicyMismatch(NotConfigured):
    """Refuse to show or write numbers under a policy the store was not built with."""

    def __init__(self, stored: str, configured: str) -> None:
        self.stored = stored
        self.configured = configured
        super().__init__(
            f"USAGELENS_POLICY_FILE gives policy {configured}, but the stored verdicts were "
            f"made under policy {stored}: run `usagelens rebuild` to recompute everything "
            "under the configured policy, or unset USAGELENS_POLICY_FILE to use the stored one"
        )


class LeaseLost(UsageLensError):
    """Refuse a write of a refresh whose lease ran out or was taken over (fencing)."""


class IllegalMove(UsageLensError):
    """Refuse a move the recommendations' lifecycle does not allow, naming the allowed ones."""


class ShuttingDown(UsageLensError):
    """Tell a caller that this process is shutting down (readiness false: go elsewhere)."""
