"""The monitoring module's summary format: every quirk accepted, everything else named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.model import Dimension, Observation
from usagelens.domain.summary import (
    parse_records,
    parse_summary,
    parse_summary_bytes,
    render_records,
    render_summary,
)


def test_shared_sample_parses_to_24000_observations(sample_summary: bytes) -> None:
    observations = parse_summary_bytes(sample_summary)
    assert len(observations) == 24000
    assert len({o.team for o in observations}) == 4
    assert len({(o.team, o.resource) for o in observations}) == 40
    first = observations[0]
    assert first == Observation(
        "envisioneer rich mindshare",
        "SZY1417",
        Dimension.CPU,
        datetime(2026, 11, 19, 13, 59, 47, tzinfo=UTC),
        7.0,
    )


def test_sample_resource_quirks_stay_strings(sample_summary: bytes) -> None:
    resources = {o.resource for o in parse_summary_bytes(sample_summary)}
    assert {"0080", "840110", "SBP 366", "7-6317O", "98F•063", "6690"} <= resources


def test_quirky_names_spaces_unicode_and_trailing_newline() -> None:
    text = (
        "  whiteboard customized e-services|(98F•063,RAM,2026-11-19 13:59:47,0);"
        "(0080,NetFlow,2026-11-19T14:59:47+03:00,100)$команда 7|(SBP 366,CPU,2026-11-19 15:00:00,55.5)\n"
    )
    obs = parse_summary(text)
    assert [o.team for o in obs] == ["whiteboard customized e-services"] * 2 + ["команда 7"]
    assert obs[1].resource == "0080"
    assert obs[1].collected_at == datetime(2026, 11, 19, 11, 59, 47, tzinfo=UTC)
    assert obs[2].usage == 55.5


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "payload is empty"),
        ("   \n", "payload is empty"),
        ("team a(R1,CPU,2026-11-19 13:59:47,5)", "team 1: missing '|'"),
        ("|(R1,CPU,2026-11-19 13:59:47,5)", "team 1: team is empty"),
        ("a|", "team 1 'a': team has no records"),
        ("a|(R1,CPU,2026-11-19 13:59:47)", "team 1 'a', record 1: expected 4 fields"),
        ("a|(R1,CPU,2026-11-19 13:59:47,5,6)", "record 1: expected 4 fields"),
        ("a|(R1,CPU,2026-11-19 13:59:47,5", "record 1: unbalanced parentheses"),
        ("a|R1,CPU,2026-11-19 13:59:47,5)", "record 1: unbalanced parentheses"),
        ("a|((R1,CPU,2026-11-19 13:59:47,5)", "record 1: unbalanced parentheses"),
        ("a|(,CPU,2026-11-19 13:59:47,5)", "record 1: resource is empty"),
        ("a|(R1,GPU,2026-11-19 13:59:47,5)", "record 1: unknown dimension 'GPU'"),
        ("a|(R1,cpu,2026-11-19 13:59:47,5)", "unknown dimension 'cpu'"),
        ("a|(R1,CPU,2026-13-19 13:59:47,5)", "collected_at '2026-13-19 13:59:47' is not a valid"),
        ("a|(R1,CPU,yesterday,5)", "collected_at 'yesterday' is not a date-time"),
        ("a|(R1,CPU,2026-11-19,5)", "is not a date-time"),
        ("a|(R1,CPU,2026-11-19 13:59:47,x)", "record 1: usage 'x' is not a number"),
        ("a|(R1,CPU,2026-11-19 13:59:47,)", "usage '' is not a number"),
        ("a|(R1,CPU,2026-11-19 13:59:47,nan)", "usage 'nan' is not a number"),
        ("a|(R1,CPU,2026-11-19 13:59:47,101)", "usage 101 is out of range"),
        ("a|(R1,CPU,2026-11-19 13:59:47,-1)", "usage -1 is out of range"),
        ("a|(R1,CPU,2026-11-19 13:59:47,5);", "team 1 'a', record 2: empty record"),
        ("a|(R1,CPU,2026-11-19 13:59:47,5)$", "team 2: empty team entry"),
        ("a|(R1,CPU,2026-11-19 13:59:47,5)$b|(R|2,CPU,2026-11-19 13:59:47,5)", "holds a delimiter"),
    ],
)
def test_malformed_summaries_name_what_is_wrong(payload: str, message: str) -> None:
    with pytest.raises(SummaryFormatError) as caught:
        parse_summary(payload)
    assert message in str(caught.value)


def test_error_names_team_index_name_record_and_field() -> None:
    good = "(R1,CPU,2026-11-19 13:59:47,5)"
    payload = f"a|{good}$seize holistic users|" + ";".join(
        [good] * 16 + ["(R1,CPU,2026-11-19 13:59:47,x)"]
    )
    with pytest.raises(SummaryFormatError) as caught:
        parse_summary(payload)
    error = caught.value
    assert str(error) == "team 2 'seize holistic users', record 17: usage 'x' is not a number"
    assert (error.team_index, error.team, error.record_index, error.field) == (
        2, "seize holistic users", 17, "usage",
    )  # fmt: skip


def test_bytes_that_are_not_utf8_are_rejected() -> None:
    with pytest.raises(SummaryFormatError, match="not valid UTF-8"):
        parse_summary_bytes(b"a|(R\xff1,CPU,2026-11-19 13:59:47,5)")


def test_json_form_has_the_same_meaning() -> None:
    text = "a b|(0080,CPU,2026-11-19 13:59:47,5);(0080,RAM,2026-11-19 13:59:47,7.5)"
    items = json.loads(json.dumps(render_records(parse_summary(text))))
    assert items[0] == {
        "team": "a b", "resource": "0080", "dimension": "CPU",
        "collected_at": "2026-11-19 13:59:47", "usage": 5,
    }  # fmt: skip
    assert parse_records(items) == parse_summary(text)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"team": "a"}, "must be a list"),
        ([], "payload is empty"),
        ([1], "record 1: must be an object"),
        ([{"team": "a", "resource": "r", "dimension": "CPU", "usage": 5}], "missing field(s) collected_at"),
        ([{"team": "a", "resource": 80, "dimension": "CPU", "collected_at": "2026-11-19 13:59:47", "usage": 5}], "resource must be a string"),
        ([{"team": "a", "resource": "r", "dimension": "CPU", "collected_at": "2026-11-19 13:59:47", "usage": True}], "usage True is not a number"),
        ([{"team": "a", "resource": "r", "dimension": "CPU", "collected_at": "2026-11-19 13:59:47", "usage": 5, "x": 1}], "unknown field(s) x"),
    ],
)  # fmt: skip
def test_malformed_json_form(items: object, message: str) -> None:
    with pytest.raises(SummaryFormatError) as caught:
        parse_records(items)
    assert message in str(caught.value)


_ID_CHARS = st.characters(
    blacklist_characters="$|;,()", blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn", "Zs")
)
_ids = st.builds(
    lambda head, middle, tail: head + middle + tail,
    st.text(_ID_CHARS, min_size=1, max_size=3),
    st.text(st.sampled_from(" -.•0123456789"), max_size=3),
    st.text(_ID_CHARS, max_size=8),
).filter(lambda s: s == s.strip() and s.isprintable())
_observations = st.builds(
    Observation,
    team=_ids,
    resource=_ids,
    dimension=st.sampled_from(list(Dimension)),
    collected_at=st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    ),
    usage=st.one_of(
        st.integers(0, 100).map(float),
        st.floats(0, 100, allow_nan=False, allow_infinity=False).map(lambda u: u + 0.0),
    ),
)


@given(st.lists(_observations, min_size=1, max_size=30))
def test_render_then_parse_is_the_identity(observations: list[Observation]) -> None:
    # The text groups records by team, so compare in the order rendering writes them.
    teams = list(dict.fromkeys(o.team for o in observations))
    ordered = [o for team in teams for o in observations if o.team == team]
    assert parse_summary(render_summary(observations)) == ordered
    assert parse_records(render_records(observations)) == observations


def test_offsets_are_converted_to_utc_and_naive_means_utc() -> None:
    obs = parse_summary(
        "t|(r,CPU,2026-11-19T13:59:47-05:00,1);(r,CPU,2026-11-19 13:59:47,1);(r,CPU,2026-11-19T13:59:47Z,1)"
    )
    assert obs[0].collected_at == datetime(
        2026, 11, 19, 13, 59, 47, tzinfo=timezone(timedelta(hours=-5))
    )
    assert (
        obs[1].collected_at == obs[2].collected_at == datetime(2026, 11, 19, 13, 59, 47, tzinfo=UTC)
    )
