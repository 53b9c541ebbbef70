"""Settings from the environment (``USAGELENS_*``), built by a function, never at import."""

from __future__ import annotations

import difflib
import json
import math
import os
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from usagelens.documents import load_document
from usagelens.domain.errors import InvalidInput, NotConfigured
from usagelens.domain.policy import Policy, policy_from_document
from usagelens.domain.push import DEFAULT_LATENCY_BOUNDS
from usagelens.domain.report import TeamContact
from usagelens.domain.times import parse_duration

if TYPE_CHECKING:
    from usagelens.sources.promql import PromQLMapping

MIN_RETENTION = timedelta(hours=1)
"""The shortest retention allowed (a shorter one deletes nearly everything: ``3m`` is minutes)."""


class TeamContactSetting(BaseModel):
    """One team's entry under ``teams:`` in the config file."""

    model_config = ConfigDict(extra="forbid")

    owner: str = Field("", max_length=200, description="who answers for the team")
    contact: str = Field("", max_length=500, description="how to reach them (a channel, a mail)")


class Settings(BaseSettings):
    """Every knob of a usagelens deployment; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="USAGELENS_", extra="ignore", frozen=True)

    database_url: str = Field(
        "sqlite:///./usagelens.db", description="sqlite:///path.db or postgresql://user@host/db"
    )
    api_token: SecretStr | None = Field(
        None, description="token required on writes; several, comma-separated, for rotation"
    )
    api_token_file: Path | None = Field(
        None, description="file holding tokens, one a line (added to USAGELENS_API_TOKEN)"
    )
    protect_reads: bool = Field(False, description="reads and /metrics need a token too")
    log_format: Literal["plain", "json"] = Field("plain", description="plain or json lines")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="the service's log level"
    )
    sources: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="base URLs of monitoring sources"
    )
    branches: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [1], description="company branches pulled from each source"
    )
    currency: str = Field("RUB", description="currency code shown with money")
    focus_provider: str = Field(
        "usagelens",
        min_length=1,
        description="ProviderName, PublisherName and InvoiceIssuerName in the FOCUS export",
    )
    focus_account: str = Field(
        "usagelens",
        min_length=1,
        description="BillingAccountId and BillingAccountName in the FOCUS export",
    )
    policy_file: Path | None = Field(None, description="YAML file overriding the policy")
    promql_file: Path | None = Field(
        None, description="YAML file mapping PromQL to usage for prometheus+http sources"
    )
    promql: dict[str, Any] | None = Field(
        None, description="the PromQL mapping given in the config file's promql: section"
    )
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0, description="largest request body")
    source_timeout: float = Field(10.0, gt=0, description="seconds per pull from a source")
    source_retries: int = Field(3, ge=1, le=10, description="tries per pull (backoff between)")
    source_max_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="largest answer read from a monitoring source"
    )
    refresh_every: float | None = Field(
        None, gt=0, description="seconds between scheduled refreshes (accepts 30s, 5m, 1h)"
    )
    push_buckets: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_LATENCY_BOUNDS),
        description="bucket bounds (seconds) of http_service_latency_seconds",
    )
    push_max_endpoints: int = Field(
        100, ge=1, description='distinct pushed endpoints before new ones count as "other"'
    )
    shutdown_timeout: float = Field(
        30.0, gt=0, description="seconds in-flight requests get to finish after SIGTERM"
    )
    shutdown_drain: float = Field(
        0.0,
        ge=0,
        description="seconds a worker keeps serving after SIGTERM with /readyz answering 503",
    )
    window: timedelta | None = Field(
        None, description="rolling window reads use by default (14d, 200h; all: everything)"
    )
    success_after: timedelta = Field(
        timedelta(hours=48),
        description="a claimed deletion succeeds once its series got nothing new this long",
    )
    fail_after: timedelta = Field(
        timedelta(days=7),
        description="a claimed deletion fails when observations still arrive this long after",
    )
    session_ttl: timedelta = Field(
        timedelta(hours=12),
        description="how long a browser's sign-in lasts with protected reads (12h, 7d)",
    )
    teams: Annotated[dict[str, TeamContactSetting], NoDecode] = Field(
        default_factory=dict,
        description="owner and contact per team, shown in reports, the dashboard and digests "
        '(config file: teams: {checkout: {owner: ann, contact: "#checkout"}}; '
        "the environment: the same as JSON)",
    )
    budgets: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict, description="monthly budget per team (config file: budgets:)"
    )
    digest_webhook: str | None = Field(
        None, description="Slack-compatible webhook the scheduled digest posts to"
    )
    digest_every: float | None = Field(
        None, gt=0, description="seconds between scheduled digests (accepts 1h, 1d)"
    )
    retention: timedelta | None = Field(
        None, description="observations older than this are pruned (90d; none: keep all)"
    )

    @field_validator("success_after", "fail_after", "session_ttl", mode="before")
    @classmethod
    def _parse_lifecycle(cls, value: object) -> object:
        if isinstance(value, str):
            seconds = parse_duration(value)
            if not seconds:
                raise ValueError(f"{value!r} is not a duration (48h, 7d)")
            return timedelta(seconds=seconds)
        return value

    @field_validator("teams", mode="before")
    @classmethod
    def _parse_teams(cls, value: object) -> object:
        if isinstance(value, str):  # the environment: a JSON object
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(
                    'not a JSON object like {"checkout": {"owner": "ann", "contact": "#co"}} '
                    f"({exc.msg}, column {exc.colno})"
                ) from None
        return value

    def team_contacts(self) -> dict[str, TeamContact]:
        """Return each configured team's owner and contact."""
        return {name: TeamContact(entry.owner, entry.contact) for name, entry in self.teams.items()}

    @field_validator("budgets", mode="before")
    @classmethod
    def _parse_budgets(cls, value: object) -> object:
        if isinstance(value, str):  # the environment: team=amount pairs, comma-separated
            budgets: dict[str, object] = {}
            for pair in filter(None, (p.strip() for p in value.split(","))):
                team, sep, amount = pair.rpartition("=")
                if not sep or not team.strip():
                    raise ValueError(f"{pair!r} is not team=amount")
                budgets[team.strip()] = amount.strip()
            return budgets
        return value

    @field_validator("budgets")
    @classmethod
    def _check_budgets(cls, value: dict[str, float]) -> dict[str, float]:
        for team, amount in value.items():
            if not math.isfinite(amount) or amount <= 0:
                raise ValueError(f"the budget of {team!r} must be a positive amount")
        return value

    @field_validator("window", "retention", mode="before")
    @classmethod
    def _parse_span(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().lower() in {"all", "none", "off", ""}:
                return None
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                raise ValueError(f"{exc}, or all (no limit)") from None
            return None if seconds is None else timedelta(seconds=seconds)
        return value

    @field_validator("retention")
    @classmethod
    def _check_retention(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < MIN_RETENTION:
            raise ValueError(
                f"{describe_duration(value)} is shorter than an hour, and every observation "
                "older than it is deleted; use 1h or more (90d, say)"
            )
        return value

    @field_validator("push_buckets", mode="before")
    @classmethod
    def _split_buckets(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("push_buckets")
    @classmethod
    def _check_buckets(cls, value: list[float]) -> list[float]:
        if not value or any(not math.isfinite(b) or b < 0 for b in value):
            raise ValueError("push buckets must be finite, non-negative numbers")
        if len(set(value)) != len(value):
            raise ValueError("push buckets must be distinct")
        return sorted(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read, in order of precedence: arguments, the environment, the config file."""
        sources = (init_settings, env_settings, dotenv_settings, file_secret_settings)
        path = os.environ.get("USAGELENS_CONFIG_FILE")
        if not path:
            return sources
        if not Path(path).is_file():
            raise ValueError(f"USAGELENS_CONFIG_FILE={path}: no such file")
        _check_file_keys(path, set(settings_cls.model_fields))
        return (*sources, YamlConfigSettingsSource(settings_cls, yaml_file=path))

    @field_validator("sources", mode="before")
    @classmethod
    def _split_sources(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("sources")
    @classmethod
    def _check_sources(cls, value: list[str]) -> list[str]:
        from usagelens.sources.urls import check_source_url  # sources import this module

        for url in value:
            try:
                check_source_url(url)
            except NotConfigured as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("branches", mode="before")
    @classmethod
    def _split_branches(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "refresh_every", "digest_every", "shutdown_timeout", "shutdown_drain", mode="before"
    )
    @classmethod
    def _parse_duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def token(self) -> str | None:
        """Return the token this process sends as a client (the first), or None."""
        return self.tokens[0] if self.tokens else None

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        """Every valid token: USAGELENS_API_TOKEN (comma-separated), then the token file's
        lines (blank lines and ``#`` comments skipped). Empty: writes are loopback-only."""
        found = []
        if self.api_token:
            found += [t.strip() for t in self.api_token.get_secret_value().split(",")]
        if self.api_token_file is not None:
            try:
                text = self.api_token_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not UTF-8 text"
                raise NotConfigured(
                    f"USAGELENS_API_TOKEN_FILE={self.api_token_file}: cannot read it ({reason})"
                ) from None
            found += [line.strip() for line in text.splitlines()]
        return tuple(t for t in found if t and not t.startswith("#"))

    def token_warnings(self) -> list[str]:
        """Say which configured tokens look like an accident: a token holding whitespace or
        ``#`` is most often an inline comment that an environment file (systemd's
        EnvironmentFile, docker's --env-file) kept as part of the value."""
        return [
            f"the API token number {n} holds whitespace or '#': an inline comment after it "
            "in an environment file is part of the value there (put comments on their own "
            "lines); a client sending the token without it is refused"
            for n, token in enumerate(self.tokens, 1)
            if "#" in token or any(c.isspace() for c in token)
        ]

    def load_promql(self) -> PromQLMapping:
        """Return the PromQL mapping: USAGELENS_PROMQL_FILE, else the config file's
        ``promql:`` section, else the node_exporter defaults."""
        from usagelens.sources.promql import mapping_from_document

        if self.promql_file is None:
            return mapping_from_document(self.promql, "the config file's promql: section")
        try:
            raw = self.promql_file.read_bytes()
        except OSError as exc:
            raise NotConfigured(
                f"USAGELENS_PROMQL_FILE={self.promql_file}: cannot read it ({exc.strerror})"
            ) from None
        where = f"USAGELENS_PROMQL_FILE={self.promql_file}"
        try:
            document = load_document(raw, what=f"PromQL mapping {self.promql_file}")
        except InvalidInput as exc:
            raise NotConfigured(f"{where}: {exc}") from None
        return mapping_from_document(document, where)

    def load_policy(self) -> Policy | None:
        """Read the policy file if one is configured (None: use the store's policy)."""
        if self.policy_file is None:
            return None
        try:
            raw = self.policy_file.read_bytes()
        except OSError as exc:
            raise NotConfigured(
                f"USAGELENS_POLICY_FILE={self.policy_file}: cannot read it ({exc.strerror})"
            ) from None
        return policy_from_document(load_document(raw, what=f"policy {self.policy_file}"))


def _inside(path: tuple[int | str, ...]) -> str:
    """Name where inside a setting a problem is (``teams: ops.phone``), if it is inside."""
    return f" ({'.'.join(str(part) for part in path)})" if path else ""


def describe_duration(span: timedelta) -> str:
    """Write a span as durations are written: ``90d``, ``200h``, ``3m``, ``45s``."""
    seconds = span.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


def _check_file_keys(path: str, known: set[str]) -> None:
    """Refuse a config file key that names no setting (a typo would otherwise be ignored)."""
    try:
        raw = Path(path).read_bytes()
        document = load_document(raw, what="the file") if raw.strip() else None
    except (OSError, InvalidInput) as exc:
        raise ValueError(f"USAGELENS_CONFIG_FILE={path}: {exc}") from None
    if document is None:
        return
    if not isinstance(document, dict):
        raise ValueError(f"USAGELENS_CONFIG_FILE={path}: must be a mapping of settings")
    for key in document:
        name = str(key).lower().removeprefix("usagelens_")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"USAGELENS_CONFIG_FILE={path}: unknown setting {key!r}{hint}")


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and USAGELENS_CONFIG_FILE), overrides on top.

    Raises NotConfigured with a readable message when a setting is invalid.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        settings.tokens  # noqa: B018 - read the token file now, not on the first request
        return settings
    except ValidationError as exc:
        problems = "; ".join(
            f"USAGELENS_{str(e['loc'][0]).upper()}{_inside(e['loc'][1:])}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise NotConfigured(f"invalid configuration: {problems}") from None
    except ValueError as exc:
        raise NotConfigured(str(exc)) from None
