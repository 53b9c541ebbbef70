"""The costs as a FOCUS 1.2 dataset (FinOps Open Cost and Usage Specification, CostAndUsage).

One row per team, resource, dimension and charge period: the team's share of the price of
that resource's dimension, exactly as the money reads compute it, so the rows' costs sum
to the total cost. The charge period is the window read; a window that crosses the start
of a calendar month is cut there, each part billed in its own month and carrying the part
of the cost that its share of the window's seconds gives (the parts of a row add up to its
cost exactly). Unpriced resource dimensions have no cost and are not rows.

Values follow FOCUS's formats: times in UTC as ``YYYY-MM-DDTHH:MM:SSZ``, numbers as plain
decimals (no exponent, no thousands separator), the currency as its ISO 4217 code, and
``Tags`` as a flat JSON object. usagelens's own columns carry FOCUS's ``x_`` prefix; they
describe the verdict of the whole window and repeat on each part of a cut row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from usagelens.domain.analytics import AnalyticsRow
from usagelens.domain.batch import from_micros
from usagelens.domain.model import Dimension, Window

COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "ContractedCost", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
    "ServiceSubcategory", "SubAccountId", "SubAccountName", "Tags",
    "x_Team", "x_Resource", "x_Decision", "x_UsageType", "x_Intensity", "x_Mean",
    "x_Median", "x_Observations",
)  # fmt: skip
"""The columns of the export, in this order: every column FOCUS 1.2 makes mandatory, the
conditional ones usagelens has a value for, then usagelens's own."""

APPLICABILITY = (
    "ACCOUNT_NAMING_SUPPORTED",
    "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED",
    "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",
    "SUB_ACCOUNT_SUPPORTED",
    "TAGGING_SUPPORTED",
)
"""What FOCUS's conditional rules may assume of this provider (the validator's
``--applicability-criteria``): named accounts, teams as sub-accounts, resources with a
type, tags. No commitment discounts, regions, public unit prices or usage quantities."""

_SERVICES = {
    Dimension.CPU: ("Compute", "Compute (CPU)", "Other (Compute)"),
    Dimension.RAM: ("Compute", "Compute (memory)", "Other (Compute)"),
    Dimension.NETFLOW: ("Networking", "Network traffic", "Other (Networking)"),
}
"""Per dimension: ServiceCategory, ServiceName and ServiceSubcategory."""

_HOUR = timedelta(hours=1)
_SECOND = timedelta(seconds=1)
_ROWS_PER_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class FocusAccount:
    """Who bills: the provider (also publisher and invoice issuer) and the billing account."""

    provider: str = "usagelens"
    account: str = "usagelens"


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open span of time [start, end), both aware and in UTC."""

    start: datetime
    end: datetime


def charge_period(window: Window, rows: Iterable[AnalyticsRow]) -> Period | None:
    """Return the charge period of a window's rows; None when no row has a stored span.

    A bound the window names is kept, but narrowed to the stored observations when the
    window reaches past them: an unbounded (or wider) start is the hour of the earliest
    observation, an unbounded (or later) end the hour after the latest. Whole seconds.
    """
    firsts = [row.evidence.first for row in rows if row.evidence and row.evidence.first]
    lasts = [row.evidence.last for row in rows if row.evidence and row.evidence.last]
    if not firsts or not lasts:
        return None
    start = _hour_of(from_micros(min(firsts)))
    end = _hour_of(from_micros(max(lasts))) + _HOUR
    if window.since is not None:
        start = max(start, _second_of(window.since))
    if window.until is not None:
        until = _second_of(window.until)
        end = min(end, until if until == window.until else until + _SECOND)
    return Period(start, end) if start < end else None


def months_of(period: Period) -> list[tuple[Period, Period]]:
    """Cut a period at the start of each calendar month it crosses.

    Returns (the part of the period, the billing month it falls in) pairs, in time order.
    """
    parts = []
    start = period.start
    while start < period.end:
        month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (month + timedelta(days=32)).replace(day=1)
        end = min(period.end, following)
        parts.append((Period(start, end), Period(month, following)))
        start = end
    return parts


def apportion(cost: float, parts: Sequence[Period]) -> list[Decimal]:
    """Split a cost over parts of its period by their seconds; the parts add up to it exactly.

    Each part but the last is rounded to 10⁻¹⁰, the last takes what is left.
    """
    whole = Decimal(repr(cost))
    if len(parts) == 1:
        return [whole]
    total_seconds = sum(_seconds(part) for part in parts)
    shares = [
        (whole * _seconds(part) / total_seconds).quantize(Decimal("1e-10")) for part in parts[:-1]
    ]
    return [*shares, whole - sum(shares, Decimal(0))]


@dataclass(frozen=True)
class FocusExport:
    """A window's costs as FOCUS rows, rendered as CSV chunk by chunk."""

    rows: Sequence[AnalyticsRow]
    window: Window
    currency: str
    account: FocusAccount

    @property
    def unpriced(self) -> int:
        """Count the resource ids that have some dimension without a price (not rows)."""
        return len({row.resource for row in self.rows if row.cost is None})

    @property
    def period(self) -> Period | None:
        """Return the charge period, None when there is nothing to bill."""
        return charge_period(self.window, self.rows)

    def records(self) -> Iterator[list[str]]:
        """Yield each FOCUS row's values in ``COLUMNS`` order (priced rows only)."""
        period = self.period
        if period is None:
            return
        months = months_of(period)
        parts = [part for part, _ in months]
        account = self.account
        provider, account_id = ascii_text(account.provider), ascii_text(account.account)
        fixed = {
            "BillingAccountId": account_id,
            "BillingAccountName": account_id,
            "BillingCurrency": self.currency,
            "ChargeCategory": "Usage",
            "ChargeClass": "",
            "ChargeFrequency": "Usage-Based",
            "InvoiceId": "",  # null: usagelens issues no invoice
            "InvoiceIssuerName": provider,
            "PricingCategory": "Standard",
            "PricingUnit": "Billing Period",
            "ProviderName": provider,
            "PublisherName": provider,
        }
        seconds = [_seconds(part) for part in parts]
        per_part = [
            fixed
            | {
                "BillingPeriodStart": focus_time(month.start),
                "BillingPeriodEnd": focus_time(month.end),
                "ChargePeriodStart": focus_time(part.start),
                "ChargePeriodEnd": focus_time(part.end),
                "PricingQuantity": _number(Decimal(n) / sum(seconds), 1),
            }
            for (part, month), n in zip(months, seconds, strict=True)
        ]
        tags: dict[tuple[str, str], str] = {}
        for row in self.rows:
            if row.cost is None:
                continue
            dimension, decision = row.dimension.value, row.decision.value
            category, service, subcategory = _SERVICES[row.dimension]
            team, resource = ascii_text(row.team), ascii_text(row.resource)
            tag = tags.get((decision, dimension))
            if tag is None:
                tag = tags[decision, dimension] = json.dumps(
                    {"usagelens/decision": decision, "usagelens/dimension": dimension},
                    ensure_ascii=False,
                )
            own = {
                "ChargeDescription": f"{dimension} of {resource} for {team}: {decision}",
                "ResourceId": resource,
                "ResourceName": resource,
                "ResourceType": dimension,
                "ServiceCategory": category,
                "ServiceName": service,
                "ServiceSubcategory": subcategory,
                "SubAccountId": team,
                "SubAccountName": team,
                "Tags": tag,
                "x_Team": row.team,
                "x_Resource": row.resource,
                "x_Decision": decision,
                "x_UsageType": row.usage_type.value,
                "x_Intensity": row.intensity.value,
                "x_Mean": decimal_text(row.mean),
                "x_Median": decimal_text(row.median),
                "x_Observations": str(row.count),
            }
            costs = (
                [money_text(row.cost)]
                if len(parts) == 1
                else [_number(cost, 2) for cost in apportion(row.cost, parts)]
            )
            for common, cost in zip(per_part, costs, strict=True):
                own["BilledCost"] = own["EffectiveCost"] = own["ListCost"] = cost
                own["ContractedCost"] = cost
                values = common | own
                yield [values[column] for column in COLUMNS]

    def chunks(self) -> Iterator[str]:
        """Yield the CSV (header first) in chunks of a thousand rows."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for n, record in enumerate(self.records(), start=1):
            writer.writerow(record)
            if n % _ROWS_PER_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def render(self) -> str:
        """Return the whole CSV as one string (for small exports and tests)."""
        return "".join(self.chunks())


def focus_time(moment: datetime) -> str:
    """Format a time as FOCUS does: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decimal_text(value: float, places: int = 1) -> str:
    """Format a number as a plain decimal (no exponent), exact to its shortest repr, with
    at least ``places`` decimals."""
    text = repr(value + 0.0)  # -0.0 + 0.0 is 0.0
    if "e" in text or "n" in text:  # an exponent, or inf/nan (refused by _number)
        return _number(Decimal(text), places)
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(places, '0')}" if len(fraction) < places else text


def money_text(value: float) -> str:
    """Format an amount as a plain decimal with at least two places (``561.00``)."""
    return decimal_text(value, 2)


def _number(value: Decimal, places: int) -> str:
    """Format a decimal with no exponent and at least ``places`` decimals (so that a
    reader typing the column by its values reads a decimal, not an integer)."""
    text = format(value, "f")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(places, "0")
    return f"{'0' if whole == '-0' else whole}.{fraction}"


def ascii_text(text: str) -> str:
    """Percent-encode what FOCUS's string columns may not hold (RFC 3986's form).

    FOCUS 1.2's string columns hold printable ASCII only: every other character, and
    ``%`` itself, becomes its UTF-8 bytes as ``%XX`` (``98F•063`` → ``98F%E2%80%A2063``),
    so any URL decoder gives the name back; printable ASCII names stay as they are.
    """
    if text.isascii() and text.isprintable() and "%" not in text:
        return text
    return "".join(char if " " <= char <= "~" and char != "%" else _percent(char) for char in text)


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def _seconds(period: Period) -> int:
    return int((period.end - period.start).total_seconds())


def _hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _second_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)
