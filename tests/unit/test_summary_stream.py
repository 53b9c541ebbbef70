"""The streaming parsers: the precise parsers' language and errors, in bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.unit.test_summary as precise_tests
from tests.conftest import depth
from usagelens.domain import summary
from usagelens.domain.batch import UsageBatch
from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.model import Dimension, Observation
from usagelens.domain.summary import (
    RecordsParser,
    SummaryParser,
    parse_records,
    parse_records_batch,
    parse_summary_batch,
    parse_summary_bytes,
    render_records,
)

Outcome = tuple[Any, ...]
"""A batch in comparable form, or an error with everything it names."""


def batch_outcome(batch: UsageBatch) -> Outcome:
    series = [
        (key, list(readings.times), [usage.hex() for usage in readings.usages])
        for key, readings in batch.series.items()
    ]
    return ("batch", batch.observations, series)


def error_outcome(error: SummaryFormatError) -> Outcome:
    return ("error", str(error), error.team_index, error.team, error.record_index, error.field)


def outcome(parse: Callable[[], UsageBatch]) -> Outcome:
    try:
        return batch_outcome(parse())
    except SummaryFormatError as exc:
        return error_outcome(exc)


def text_reference(data: bytes) -> Outcome:
    return outcome(lambda: UsageBatch.of(parse_summary_bytes(data)))


def json_reference(data: bytes) -> Outcome | None:
    """Today's JSON ingestion (json.loads, then parse_records); None for bad JSON."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return outcome(lambda: UsageBatch.of(parse_records(document)))


def fed(parser: SummaryParser | RecordsParser, data: bytes, sizes: Sequence[int]) -> UsageBatch:
    """Feed the payload in chunks of the given sizes (cycled), then close."""
    parser.feed(b"")
    start = index = 0
    while start < len(data):
        size = sizes[index % len(sizes)]
        parser.feed(data[start : start + size])
        start, index = start + size, index + 1
    return parser.close()


def streamed_text(data: bytes, sizes: Sequence[int]) -> Outcome:
    return outcome(lambda: fed(SummaryParser(), data, sizes))


def streamed_json(data: bytes, sizes: Sequence[int]) -> Outcome:
    return outcome(lambda: fed(RecordsParser(), data, sizes))


def assert_json_equivalent(data: bytes, actual: Outcome) -> None:
    expected = json_reference(data)
    if expected is None:
        assert actual[0] == "error"
        assert actual[1].startswith("payload is not valid JSON ("), actual
    else:
        assert actual == expected


# The sample ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 3, 1000, 65536, 10**9])
def test_sample_text_streams_to_the_precise_result(sample_summary: bytes, size: int) -> None:
    expected = text_reference(sample_summary)
    assert expected[1] == 24000
    assert streamed_text(sample_summary, [size]) == expected


def test_sample_text_in_one_call(sample_summary: bytes) -> None:
    batch = parse_summary_batch(sample_summary)
    assert batch_outcome(batch) == text_reference(sample_summary)
    assert (batch.observations, len(batch.series), batch.teams, batch.resources) == (
        24000, 120, 4, 40,
    )  # fmt: skip


@pytest.mark.parametrize("size", [7, 65536, 10**9])
def test_sample_json_form_streams_to_the_precise_result(sample_summary: bytes, size: int) -> None:
    data = json.dumps(render_records(parse_summary_bytes(sample_summary))).encode()
    assert streamed_json(data, [size]) == json_reference(data)
    assert batch_outcome(parse_records_batch(data)) == text_reference(sample_summary)


@pytest.mark.parametrize("defer", [0, 1000, 10**9])
@pytest.mark.parametrize("form", ["text", "json", "json after whitespace"])
def test_the_payload_reader_holds_then_streams_to_the_same_batch(
    sample_summary: bytes, defer: int, form: str
) -> None:
    """Up to ``defer`` bytes are only hashed; past them, parsed as they arrive: one batch."""
    import hashlib

    from usagelens.app.ingest import PayloadReader

    data = sample_summary
    if form != "text":
        data = json.dumps(render_records(parse_summary_bytes(sample_summary))).encode()
        data = b"\n  " + data if form == "json after whitespace" else data
    reader = PayloadReader(defer=defer)
    for start in range(0, len(data), 4096):
        reader.feed(data[start : start + 4096])
        assert reader.unparsed == (start + 4096 <= defer)
    assert reader.sha256 == hashlib.sha256(data).hexdigest()
    batch, digest = reader.close()
    assert digest == reader.sha256 and not reader.unparsed
    assert batch_outcome(batch) == text_reference(sample_summary)


# The precise parsers' own error cases ------------------------------------------------


def _cases(test: Callable[..., None]) -> list[Any]:
    """Return the cases of a parametrized test in test_summary.py, to run them here too."""
    (mark,) = [mark for mark in getattr(test, "pytestmark", []) if mark.name == "parametrize"]
    return list(mark.args[1])


TEXT_CASES = _cases(precise_tests.test_malformed_summaries_name_what_is_wrong)
JSON_CASES = _cases(precise_tests.test_malformed_json_form)


def test_the_precise_cases_are_found() -> None:
    assert len(TEXT_CASES) >= 20
    assert len(JSON_CASES) >= 5


@pytest.mark.parametrize(("payload", "message"), TEXT_CASES)
@pytest.mark.parametrize("size", [1, 10**9])
def test_precise_text_errors_hold(payload: str, message: str, size: int) -> None:
    data = payload.encode()
    actual = streamed_text(data, [size])
    assert actual == text_reference(data)
    assert actual[0] == "error"
    assert message in actual[1]


@pytest.mark.parametrize(("items", "message"), JSON_CASES)
@pytest.mark.parametrize("size", [1, 10**9])
def test_precise_json_errors_hold(items: object, message: str, size: int) -> None:
    data = json.dumps(items).encode()
    actual = streamed_json(data, [size])
    assert actual == json_reference(data)
    assert actual[0] == "error"
    assert message in actual[1]


def test_error_names_team_index_name_record_and_field() -> None:
    good = "(R1,CPU,2026-11-19 13:59:47,5)"
    payload = f"a|{good}$seize holistic users|" + ";".join(
        [good] * 16 + ["(R1,CPU,2026-11-19 13:59:47,x)"]
    )
    for size in (1, 5, 10**9):
        assert streamed_text(payload.encode(), [size]) == (
            "error",
            "team 2 'seize holistic users', record 17: usage 'x' is not a number",
            2, "seize holistic users", 17, "usage",
        )  # fmt: skip


# Specific behaviour ---------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 12))
def test_bad_utf8_names_its_offset_in_the_whole_payload(size: int) -> None:
    data = "a|(98F•063,CPU,2026-11-19 13:59:47,5);(R,RAM,2026-11-19 13:59:47,7)".encode()
    for bad in (b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xc3("):
        for at in (0, 4, 10, 20, len(data)):
            payload = data[:at] + bad + data[at:]
            actual = streamed_text(payload, [size])
            assert actual == text_reference(payload)
            assert actual[1].startswith(f"payload is not valid UTF-8 (byte {bad[:1]!r} at offset")


def test_every_split_point_inside_multibyte_characters() -> None:
    data = " \ufeffкоманда 7|(98F•063,NetFlow,2026-11-19T14:59:47+03:00,55.5)$𝔵|(0080,RAM,2026-11-19 13:59:47,0)\n".encode()
    expected = text_reference(data)
    assert expected[0] == "batch"
    for cut in range(len(data) + 1):
        parser = SummaryParser()
        parser.feed(data[:cut])
        parser.feed(data[cut:])
        assert batch_outcome(parser.close()) == expected
    truncated = data[: data.index("𝔵".encode()) + 2]
    assert streamed_text(truncated, [1]) == text_reference(truncated)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"  \n",
        b"\xef\xbb\xbf",
        b" \xef\xbb\xbf \n",
        b"\xef\xbb\xbf\xef\xbb\xbf",
        b"a",
        b"a|",
        b"a| ;",
    ],
)
def test_empty_and_nearly_empty_payloads(payload: bytes) -> None:
    for size in (1, 10**9):
        assert streamed_text(payload, [size]) == text_reference(payload)
        assert streamed_json(payload, [size])[0] == "error"


def test_repeats_are_counted_and_series_keep_their_first_appearance() -> None:
    payload = (
        b"t|(b,CPU,2026-11-19 13:00:00,1);(a,RAM,2026-11-19 13:00:00,2);(b,CPU,2026-11-19 13:00:00,3)"
        b"$s|(a,RAM,2026-11-19 14:00:00,4)$t|(a,RAM,2026-11-19 15:00:00,5)"
    )
    batch = parse_summary_batch(payload)
    assert batch.observations == 5
    assert list(batch.series) == [
        ("t", "b", Dimension.CPU), ("t", "a", Dimension.RAM), ("s", "a", Dimension.RAM),
    ]  # fmt: skip
    assert list(batch.series["t", "a", Dimension.RAM].usages) == [2.0, 5.0]
    assert batch_outcome(batch) == text_reference(payload)


def test_json_in_another_encoding_or_not_a_list_is_judged_whole() -> None:
    items = [
        {
            "team": "a",
            "resource": "r",
            "dimension": "CPU",
            "collected_at": "2026-11-19 13:59:47",
            "usage": 5,
        }
    ]
    for data in (json.dumps(items).encode("utf-16"), json.dumps(items).encode("utf-32-le")):
        assert streamed_json(data, [3]) == json_reference(data)
        assert streamed_json(data, [3])[0] == "batch"
    for data in (b'{"team": "a"}', b"5", b' "x" ', b"[]", b" [ ] ", b"\xef\xbb\xbf[]"):
        actual = streamed_json(data, [1])
        assert actual == json_reference(data)
    for data in (b"", b"[", b"[1,", b"[1]]", b"nul", b"[\xff]", b'{"a": 1', b"[{}] x"):
        actual = streamed_json(data, [1])
        assert json_reference(data) is None
        assert actual[1].startswith("payload is not valid JSON ("), actual


def test_parsers_refuse_use_after_close() -> None:
    parser = SummaryParser()
    parser.feed(b"a|(r,CPU,2026-11-19 13:59:47,5)")
    parser.close()
    with pytest.raises(ValueError, match="after close"):
        parser.feed(b"x")
    records = RecordsParser()
    records.feed(b"[]")
    with pytest.raises(SummaryFormatError, match="payload is empty"):
        records.close()
    with pytest.raises(ValueError, match="after close"):
        records.close()


def test_a_bad_byte_is_reported_at_once_and_again_at_close() -> None:
    parser = SummaryParser()
    parser.feed(b"a|(r,CPU,2026-11-19 13:59:47,5);")
    with pytest.raises(SummaryFormatError, match="offset 32"):
        parser.feed(b"\xff")
    with pytest.raises(SummaryFormatError, match="offset 32"):
        parser.feed(b"more")
    with pytest.raises(SummaryFormatError, match="offset 32"):
        parser.close()
    with pytest.raises(ValueError, match="after close"):
        parser.close()


def test_json_errors_are_sticky_and_closing_twice_is_refused() -> None:
    parser = RecordsParser()
    parser.feed(b'[{"a": 1},')
    with pytest.raises(SummaryFormatError, match="not valid JSON"):
        parser.feed(b"]")
    with pytest.raises(SummaryFormatError, match="not valid JSON"):
        parser.feed(b"")
    with pytest.raises(SummaryFormatError, match="not valid JSON"):
        parser.close()
    with pytest.raises(ValueError, match="after close"):
        parser.feed(b"")


@pytest.mark.parametrize(
    "data",
    [
        b"    \n  [1, 2.5, 3e1, -0.0]",
        b'[{"a": 1}, "x", null, true, [1], 12345678901234567890]',
        b"[" + b" " * 100 + b"1" + b" " * 100 + b"]",
        b"[" + b"1" * 5000 + b"]",
        b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]",
        b'[{"team": "' + b"x}" * 40_000 + b'", "u": 1}]',
    ],
)
@pytest.mark.parametrize("size", [1, 3, 64, 10**9])
def test_json_elements_that_are_not_objects(data: bytes, size: int) -> None:
    if size == 1 and len(data) > 1000:
        size = 997
    assert_json_equivalent(data, streamed_json(data, [size]))


SAMPLE = (Path(__file__).parents[1] / "data" / "summary_1.txt").read_bytes()


def sample_excerpt(sample: bytes) -> str:
    """Two teams of 1500 records each from the sample: big pieces for the fast path."""
    first, second = sample.decode().split("$")[:2]
    return "$".join(";".join(team.split(";")[:1500]) for team in (first, second))


@settings(max_examples=depth(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.lists(st.integers(1, 70_000), min_size=1, max_size=3))
def test_mutations_deep_inside_big_teams(data: st.DataObject, sizes: list[int]) -> None:
    text = sample_excerpt(SAMPLE)
    payload = data.draw(mutated(text, TEXT_NOISE))
    assert streamed_text(payload, sizes) == text_reference(payload)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (",7);", ",x);"), (",7);", ",1_0);"), (",7);", ",nan);"), (",7);", ", 7 );"),
        (",CPU,", ",GPU,"), (",CPU,", ", CPU,"), ("SZY1417", "SZY|1417"), ("SZY1417", " SZY1417 "),
        ("13:59:47", "13:59:99"), ("13:59:47", "13:59:47.5"), (");(", ") ; ("), (");(", ");;("),
        (");(", ",5);("), (");(", ")(;("), ("2026-11-19", "2026-11-19,"), ("|", "|;"),
    ],
)  # fmt: skip
def test_sample_faults_and_quirks_late_in_a_team(sample_summary: bytes, old: str, new: str) -> None:
    text = sample_summary.decode()
    at = text.rindex(old, 0, text.index("$") - 1000)
    payload = (text[:at] + new + text[at + len(old) :]).encode()
    expected = text_reference(payload)
    for size in (65536, 10**9):
        assert streamed_text(payload, [size]) == expected


def test_small_caches_give_the_same_results(
    sample_summary: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary.fast, "CACHE_LIMIT", 3)
    data = json.dumps(render_records(parse_summary_bytes(sample_summary))).encode()
    assert streamed_text(sample_summary, [65536]) == text_reference(sample_summary)
    assert streamed_json(data, [65536]) == json_reference(data)
    spacey = sample_summary.replace(b";", b" ; ")
    assert streamed_text(spacey, [65536]) == text_reference(spacey)


# Equivalence under hypothesis -------------------------------------------------------------

QUIRKY_IDS = [
    "SZY1417", "7-6317O", "SBP 366", "98F•063", "0080", "840110", "6690", "a.b",
    "команда 7", "envisioneer rich mindshare", "whiteboard customized e-services", "x",
]  # fmt: skip
_ID_CHARS = st.characters(
    blacklist_characters="$|;,()", blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn", "Zs")
)
ids = st.one_of(
    st.sampled_from(QUIRKY_IDS),
    st.builds(
        lambda head, middle, tail: head + middle + tail,
        st.text(_ID_CHARS, min_size=1, max_size=3),
        st.text(st.sampled_from(" -.•0123456789"), max_size=3),
        st.text(_ID_CHARS, max_size=4),
    ).filter(lambda s: s == s.strip() and s.isprintable()),
)
BASE_TIMES = [datetime(2026, 11, 19, 13, 59, 47), datetime(2026, 11, 19, 14, 59, 47)]


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    moment = draw(
        st.sampled_from(BASE_TIMES)
        | st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1))
    )
    sep = draw(st.sampled_from([" ", " ", "T"]))
    fraction = draw(st.sampled_from(["", "", ".5", ".123456"]))
    offset = draw(st.sampled_from(["", "", "Z", "+03:00", "-05:00", "+0530"]))
    return moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + fraction + offset


usages = st.one_of(
    st.integers(0, 100).map(str),
    st.sampled_from(["0", "100", "55.5", "0.0", "99.99", "1e1", "+5", "007", "-0", "100.0"]),
    st.floats(0, 100).map(repr),
)
WHITESPACE = ["", "", "", " ", "\t", "\n", "\u3000", "\xa0"]


@st.composite
def summaries(draw: st.DrawFn) -> str:
    """A valid summary with the format's quirks; whitespace where the format allows it."""
    spacey = draw(st.booleans())

    def ws() -> str:
        return draw(st.sampled_from(WHITESPACE)) if spacey else ""

    resources = draw(st.lists(ids, min_size=1, max_size=3))
    teams = []
    for team in draw(st.lists(ids, min_size=1, max_size=3)):
        records = []
        for _ in range(draw(st.integers(1, 8))):
            fields = (
                draw(st.sampled_from(resources)),
                draw(st.sampled_from(["CPU", "RAM", "NetFlow"])),
                draw(timestamps()),
                draw(usages),
            )
            records.append(ws() + "(" + ",".join(ws() + f + ws() for f in fields) + ")" + ws())
        teams.append(ws() + team + ws() + "|" + ";".join(records))
    prefix = draw(st.sampled_from(["", "", " ", "\ufeff", " \ufeff\n", "\n\t"]))
    suffix = draw(st.sampled_from(["", "", "\n", " \r\n", "\u3000"]))
    return prefix + "$".join(teams) + suffix


TEXT_NOISE = [*"$|;,()", " ", "x", "9", ".", "-", ":", "T", "\ufeff", "•", "_", "\n", "e", "n"]
BAD_BYTES = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f", b"\x80", b"\xc0\xaf"]


@st.composite
def mutated(draw: st.DrawFn, text: str, noise: list[str]) -> bytes:
    """Delete, insert or replace a few characters, sometimes bytes that are not UTF-8."""
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(noise))
        if op == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + (char if op == "replace" else "") + text[at + 1 :]
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


chunk_sizes = st.lists(
    st.one_of(st.integers(1, 8), st.integers(1, 300), st.just(10**9)), min_size=1, max_size=6
)


@settings(max_examples=depth(200), suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), chunk_sizes)
def test_valid_summaries_stream_to_the_precise_result(
    data: st.DataObject, sizes: list[int]
) -> None:
    payload = data.draw(summaries()).encode()
    expected = text_reference(payload)
    assert expected[0] == "batch", expected
    assert streamed_text(payload, sizes) == expected
    assert outcome(lambda: parse_summary_batch(payload)) == expected


@settings(max_examples=depth(400), suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), chunk_sizes)
def test_mutated_summaries_stream_to_the_precise_result_or_error(
    data: st.DataObject, sizes: list[int]
) -> None:
    payload = data.draw(summaries().flatmap(lambda text: mutated(text, TEXT_NOISE)))
    expected = text_reference(payload)
    assert streamed_text(payload, sizes) == expected
    assert outcome(lambda: parse_summary_batch(payload)) == expected


JSON_IDS = ids | st.sampled_from(["a}b", "x]", "{y", 'q"uote', "back\\slash", " pad ", "a|b", ""])
ACCEPTED_VARIANTS = {
    "team": [" pad ", "x\u3000"],
    "resource": [" 0080 ", "\t98F•063"],
    "dimension": [" CPU", "RAM\n"],
    "collected_at": [" 2026-11-19 13:59:47", "2026-11-19T13:59:47+03:00 "],
    "usage": ["5", " 7.5 ", "1e1", -0.0],
}
"""Values the precise parser accepts that the fast path leaves to it."""
json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.integers(10**20, 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [" CPU", "cpu", "", " 5 ", "5", "1_0", "2026-11-19 13:59:47", "x|y", "nan", [], {}, [1]]
    ),
)


@st.composite
def json_payloads(draw: st.DrawFn) -> str:
    """The JSON form of valid observations, with a few objects spoiled, as JSON text."""
    resources = draw(st.lists(JSON_IDS, min_size=1, max_size=3))
    teams = draw(st.lists(JSON_IDS, min_size=1, max_size=2))
    observations = [
        Observation(
            draw(st.sampled_from(teams)),
            draw(st.sampled_from(resources)),
            draw(st.sampled_from(list(Dimension))),
            draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1))),
            draw(st.integers(0, 100).map(float) | st.floats(0, 100)),
        )
        for _ in range(draw(st.integers(0, 12)))
    ]
    items: list[Any] = render_records(observations)
    for _ in range(draw(st.integers(0, 2))):
        if not items:
            break
        at = draw(st.integers(0, len(items) - 1))
        if not isinstance(items[at], dict):
            continue
        key = draw(st.sampled_from(["team", "resource", "dimension", "collected_at", "usage"]))
        spoil = draw(st.sampled_from(["variant", "variant", "value", "delete", "add", "item"]))
        item = dict(items[at])
        if spoil == "variant":
            item[key] = draw(st.sampled_from(ACCEPTED_VARIANTS[key]))
        elif spoil == "value":
            item[key] = draw(json_values)
        elif spoil == "delete":
            item.pop(key, None)
        elif spoil == "add":
            item["extra"] = 1
        items[at] = draw(st.sampled_from([1, "x", None, []])) if spoil == "item" else item
    document: Any = items if draw(st.integers(0, 9)) else {"items": items}
    return json.dumps(
        document,
        indent=draw(st.sampled_from([None, None, 0, 2])),
        separators=draw(st.sampled_from([None, (",", ":"), (" , ", " : ")])),
        ensure_ascii=draw(st.booleans()),
    )


JSON_NOISE = [*'{}[],:"\\', " ", "\n", "1", "e", ".", "-", "n", "x", "\ufeff", "•"]


@settings(max_examples=depth(200), suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), chunk_sizes)
def test_json_payloads_stream_to_the_precise_result(data: st.DataObject, sizes: list[int]) -> None:
    payload = data.draw(json_payloads()).encode()
    if data.draw(st.booleans()):
        payload = b"\xef\xbb\xbf" + payload
    assert_json_equivalent(payload, streamed_json(payload, sizes))
    assert_json_equivalent(payload, outcome(lambda: parse_records_batch(payload)))


@settings(max_examples=depth(400), suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), chunk_sizes)
def test_mutated_json_streams_to_the_precise_result_or_error(
    data: st.DataObject, sizes: list[int]
) -> None:
    payload = data.draw(json_payloads().flatmap(lambda text: mutated(text, JSON_NOISE)))
    assert_json_equivalent(payload, streamed_json(payload, sizes))
    assert_json_equivalent(payload, outcome(lambda: parse_records_batch(payload)))


# Bounded memory -------------------------------------------------------------------------


def big_summary(sample: bytes, copies: int) -> bytes:
    """Join copies of the sample's teams with '$', renamed so every copy's series differ."""
    teams = sample.strip().split(b"$")
    return b"$".join(b"%d %s" % (copy, team.lstrip()) for copy in range(copies) for team in teams)


def peak_while(parse: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        parse()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.heavy
def test_a_30_mb_summary_streams_in_bounded_memory(sample_summary: bytes) -> None:
    data = big_summary(sample_summary, 33)
    assert len(data) > 29_000_000
    batches: list[UsageBatch] = []

    def parse() -> None:
        parser = SummaryParser()
        for start in range(0, len(data), 65536):
            parser.feed(data[start : start + 65536])
        batches.append(parser.close())

    peak = peak_while(parse)
    (batch,) = batches
    assert (batch.observations, len(batch.series), batch.teams) == (33 * 24000, 33 * 120, 33 * 4)
    assert peak < 2 * len(data), f"peak {peak / 1e6:.1f} MB for {len(data) / 1e6:.1f} MB"


def test_a_whole_big_summary_in_one_call_is_parsed_in_blocks(sample_summary: bytes) -> None:
    data = big_summary(sample_summary, 8)
    peak = peak_while(lambda: parse_summary_batch(data))
    assert peak < 2 * len(data), f"peak {peak / 1e6:.1f} MB for {len(data) / 1e6:.1f} MB"


def test_a_big_json_form_streams_in_bounded_memory(sample_summary: bytes) -> None:
    records = render_records(parse_summary_bytes(sample_summary))
    data = json.dumps(
        [dict(record, team=f"{copy} {record['team']}") for copy in range(3) for record in records]
    ).encode()

    def parse() -> None:
        parser = RecordsParser()
        for start in range(0, len(data), 65536):
            parser.feed(data[start : start + 65536])
        assert parser.close().observations == 3 * 24000

    peak = peak_while(parse)
    assert peak < 2 * len(data), f"peak {peak / 1e6:.1f} MB for {len(data) / 1e6:.1f} MB"
