"""Price lists in YAML and JSON: keys stay the resource ids they were written as."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from usagelens.documents import dump_yaml, load_price_list
from usagelens.domain.errors import PriceListError
from usagelens.domain.model import Dimension
from usagelens.domain.prices import (
    LEGACY_ORIGIN,
    MANUAL_ORIGIN,
    OriginPrices,
    PriceList,
    precedence,
    prices_in_force,
)


def test_sample_price_list(sample_prices: bytes) -> None:
    prices = load_price_list(sample_prices)
    assert len(prices.values) == 40
    assert prices.price("0080", Dimension.CPU) == 826
    assert prices.price("6690", Dimension.RAM) is not None
    assert prices.price("98F•063", Dimension.NETFLOW) is not None


@pytest.mark.parametrize(
    "key", ["0080", "6690", "0070", "0x1F", "1_000", "12:30", "1e3", "true", "null", "0o17"]
)
def test_bare_yaml_keys_that_look_like_numbers_stay_strings(key: str) -> None:
    prices = load_price_list(f"values:\n  {key}: {{CPU: 1, RAM: 2, NetFlow: 3}}\n")
    assert list(prices.values) == [key]


def test_spec_example_and_json_form() -> None:
    yaml_text = 'values:\n  SZY1417: {CPU: 120, RAM: 80, NetFlow: 30}\n  "0080": {CPU: 15, RAM: 10, NetFlow: 5}\n'
    json_text = '{"values": {"SZY1417": {"CPU": 120, "RAM": 80, "NetFlow": 30}, "0080": {"CPU": 15, "RAM": 10, "NetFlow": 5}}}'
    assert load_price_list(yaml_text) == load_price_list(json_text)
    assert load_price_list(yaml_text).price("0080", Dimension.NETFLOW) == 5


def test_a_missing_dimension_is_unpriced() -> None:
    prices = load_price_list("values:\n  A: {CPU: 1.5}\n")
    assert prices.price("A", Dimension.CPU) == 1.5
    assert prices.price("A", Dimension.RAM) is None
    assert prices.price("B", Dimension.CPU) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("values: [1, 2]", "'values' must map"),
        ("prices: {}", "'values' key"),
        ("values: {A: {CPU: -1}}", "non-negative"),
        ("values: {A: {CPU: abc}}", "is not a number"),
        ("values: {A: {CPU: true}}", "is not a number"),
        ("values: {A: {GPU: 1}}", "unknown dimension 'GPU'"),
        ("values: {A: 5}", "expected a mapping"),
        ("values:\n  A: {CPU: 1}\n  A: {CPU: 2}\n", "duplicate key 'A'"),
        ("values: {A: {CPU: 1}", "neither valid YAML nor JSON"),
        ('{"values": {"A": {"CPU": NaN}}}', "non-negative"),
    ],
)
def test_malformed_price_lists(text: str, message: str) -> None:
    with pytest.raises(PriceListError) as caught:
        load_price_list(text)
    assert message in str(caught.value)


def test_dumped_list_reads_back_with_numeric_ids(sample_prices: bytes) -> None:
    prices = load_price_list(sample_prices)
    assert load_price_list(dump_yaml(prices.to_document())) == prices


def _at(hour: int) -> datetime:
    return datetime(2026, 12, 1, hour, tzinfo=UTC)


def test_a_partial_hand_set_list_overrides_only_what_it_prices() -> None:
    source = OriginPrices(
        "http://src",
        PriceList({"m1": {Dimension.CPU: 10, Dimension.RAM: 20, Dimension.NETFLOW: 30}}),
    )
    manual = OriginPrices(MANUAL_ORIGIN, PriceList({"m1": {Dimension.CPU: 99}}))
    merged = prices_in_force([source, manual], ["http://src"])
    assert merged.values["m1"] == {Dimension.CPU: 99, Dimension.RAM: 20, Dimension.NETFLOW: 30}


def test_the_configured_order_of_today_decides_between_sources() -> None:
    a = OriginPrices(
        "http://a", PriceList({"B": {Dimension.CPU: 1}, "A": {Dimension.RAM: 5}}), _at(9)
    )
    b = OriginPrices("http://b/", PriceList({"B": {Dimension.CPU: 2}}), _at(1))
    assert prices_in_force([a, b], ["http://a", "http://b"]).price("B", Dimension.CPU) == 2
    # Reordered: the other source wins, whatever the order at the time they answered.
    assert prices_in_force([a, b], ["http://b", "http://a"]).price("B", Dimension.CPU) == 1
    assert prices_in_force([a, b], ["http://b", "http://a"]).price("A", Dimension.RAM) == 5


def test_precedence_manual_configured_unconfigured_by_arrival_legacy() -> None:
    empty = PriceList({})
    lists = [
        OriginPrices(LEGACY_ORIGIN, empty, _at(0)),
        OriginPrices("http://old-late", empty, _at(8)),
        OriginPrices("http://old-early", empty, _at(2)),
        OriginPrices("http://first", empty, _at(5)),
        OriginPrices("http://second", empty, _at(3)),
        OriginPrices(MANUAL_ORIGIN, empty, _at(1)),
    ]
    order = [e.origin for e in precedence(lists, ["http://first", "http://second"])]
    assert order == [
        MANUAL_ORIGIN,
        "http://second",
        "http://first",
        "http://old-late",
        "http://old-early",
        LEGACY_ORIGIN,
    ]
