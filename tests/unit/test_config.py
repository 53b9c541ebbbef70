"""Settings from the environment and a config file, with readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from usagelens.config import load_settings, parse_duration
from usagelens.domain.errors import NotConfigured


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("USAGELENS_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./usagelens.db"
    assert settings.token is None and settings.sources == [] and settings.branches == [1]
    assert settings.currency == "RUB" and settings.push_buckets == [0.01, 0.5, 1, 2, 3, 4, 10]


def test_environment_lists_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGELENS_SOURCES", "http://a:1/, http://b:2")
    monkeypatch.setenv("USAGELENS_BRANCHES", "1,2, 3")
    monkeypatch.setenv("USAGELENS_REFRESH_EVERY", "5m")
    monkeypatch.setenv("USAGELENS_PUSH_BUCKETS", "1, 0.5, 10")
    monkeypatch.setenv("USAGELENS_API_TOKEN", "s3cr3t-value")
    settings = load_settings()
    assert settings.sources == ["http://a:1", "http://b:2"]
    assert settings.branches == [1, 2, 3]
    assert settings.refresh_every == 300
    assert settings.push_buckets == [0.5, 1, 10]
    assert settings.token == "s3cr3t-value" and "s3cr3t-value" not in repr(settings)


def test_config_file_mirrors_the_variables_and_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "usagelens.yaml"
    config.write_text("currency: EUR\nsources: [http://a, http://b]\nbranches: [4, 5]\n")
    monkeypatch.setenv("USAGELENS_CONFIG_FILE", str(config))
    assert load_settings().sources == ["http://a", "http://b"]
    assert load_settings().branches == [4, 5]
    monkeypatch.setenv("USAGELENS_CURRENCY", "USD")
    assert load_settings().currency == "USD"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("USAGELENS_BRANCHES", "one", "USAGELENS_BRANCHES"),
        ("USAGELENS_REFRESH_EVERY", "soon", "not a duration"),
        ("USAGELENS_PUSH_BUCKETS", "1,1", "distinct"),
        ("USAGELENS_MAX_BODY_BYTES", "0", "USAGELENS_MAX_BODY_BYTES"),
        ("USAGELENS_CONFIG_FILE", "/nonexistent.yaml", "no such file"),
        ("USAGELENS_RETENTION", "3m", "USAGELENS_RETENTION: 3m is shorter than an hour"),
        ("USAGELENS_RETENTION", "3599", "USAGELENS_RETENTION: 3599s is shorter than an hour"),
    ],
)
def test_invalid_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(NotConfigured) as caught:
        load_settings()
    assert message in str(caught.value)


def test_a_retention_of_an_hour_or_more_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    for value, span in [("1h", timedelta(hours=1)), ("90d", timedelta(days=90)), ("off", None)]:
        monkeypatch.setenv("USAGELENS_RETENTION", value)
        assert load_settings().retention == span


def test_durations_are_described_as_they_are_written() -> None:
    from datetime import timedelta

    from usagelens.config import describe_duration

    for seconds, text in [(180, "3m"), (86400 * 90, "90d"), (3600 * 200, "200h"), (90, "90s")]:
        assert describe_duration(timedelta(seconds=seconds)) == text
        assert parse_duration(text) == seconds


def test_durations() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("30s") == 30
    assert parse_duration("1.5h") == 5400
    assert parse_duration("off") is None
