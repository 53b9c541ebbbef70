"""Source URLs are checked once, before anything is contacted, with the forms accepted."""

from __future__ import annotations

import pytest

from usagelens.config import load_settings
from usagelens.domain.errors import NotConfigured
from usagelens.sources import check_source_url
from usagelens.sources.urls import SOURCE_FORMS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("USAGELENS_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:21122",
        "https://mon.example.com",
        "HTTP://mon-a:8080/prefix",
        "http://[::1]:21122",
        "postgresql://reader@db/monitoring?table=usage_stats.resources",
        "postgres://reader:pw@db:5432/monitoring?table=resources&lookback=6h",
        "postgresql+psycopg://reader@db/monitoring",
        "prometheus+http://127.0.0.1:9090",
        "prometheus+https://mimir.example.com/prometheus",
        "prometheus+http://vmselect:8481/select/0/prometheus",
    ],
)
def test_accepted_forms(url: str) -> None:
    assert check_source_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("127.0.0.1:21199", "has no scheme"),
        ("localhost:21199", "has no scheme"),
        ("mon-a", "has no scheme"),
        ("ftp://mon-a:21", "has the scheme 'ftp'"),
        ("prometheus+ftp://mon-a:21", "has the scheme 'prometheus+ftp'"),
        ("prometheus+http://:9090", "names no host"),
        ("http://:80", "names no host"),
        ("http://mon-a:99999", "port that is not a number"),
        ("http://mon-a:0", "port that is not a number"),
        ("http://mon-a:port", "port that is not a number"),
        ("postgresql://u@db/x?table=a;drop table b", "holds spaces or control characters"),
        ("postgresql://u@db/x?table=a;drop", "table that is not SCHEMA.TABLE"),
        ("http://mon-a\x00:1", "holds spaces or control characters"),
        ("http://mon-a:1/\n", "holds spaces or control characters"),
        ("http://mon-a:1/\x7f", "holds spaces or control characters"),
        ("", "is empty"),
        ("http://[::1:21122", "is not a URL"),
        ("http://mon-a/" + "x" * 500, "is longer than 500 characters (513)"),
    ],
)
def test_refused_forms_say_why_and_what_is_accepted(url: str, why: str) -> None:
    with pytest.raises(NotConfigured) as caught:
        check_source_url(url, "--source")
    message = str(caught.value)
    assert message.startswith("--source '") and why in message
    assert message.endswith(f"use {SOURCE_FORMS}")
    assert "prometheus+http://HOST:PORT[/PREFIX]" in SOURCE_FORMS
    assert "\n" not in message and "\x00" not in message and len(message) < 300


def test_the_setting_is_checked_with_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGELENS_SOURCES", "http://a:1, 127.0.0.1:21199")
    with pytest.raises(NotConfigured) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid configuration: USAGELENS_SOURCES: source '127.0.0.1:21199' has no scheme: "
        f"use {SOURCE_FORMS}"
    )
    monkeypatch.setenv("USAGELENS_SOURCES", "http://a:1/, postgresql://r@db/m?table=s.t")
    assert load_settings().sources == ["http://a:1", "postgresql://r@db/m?table=s.t"]
