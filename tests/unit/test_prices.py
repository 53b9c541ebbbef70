"""Price lists in YAML and JSON: keys stay the resource ids they were written as."""

from __future__ import annotations

import pytest

from usagelens.documents import dump_yaml, load_price_list
from usagelens.domain.errors import PriceListError
from usagelens.domain.model import Dimension
from usagelens.domain.prices import PriceList, merge_price_lists


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


def test_merge_later_list_wins_per_resource() -> None:
    first = PriceList({"A": {Dimension.CPU: 1}, "B": {Dimension.CPU: 2}})
    second = PriceList({"B": {Dimension.CPU: 20}, "C": {Dimension.RAM: 3}})
    merged = merge_price_lists([first, second])
    assert merged.price("A", Dimension.CPU) == 1
    assert merged.price("B", Dimension.CPU) == 20
    assert merged.price("C", Dimension.RAM) == 3
