"""The scrape's blocks: re-used while their series are unchanged, and one gzip stream."""

from __future__ import annotations

import gzip
import random
import zlib

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from usagelens.scrape import BLOCK_SERIES, Block, Blocks, Scrape, crc32_combine


@given(st.binary(max_size=5000), st.binary(max_size=5000))
def test_combined_crc_is_the_crc_of_the_joined_bytes(first: bytes, second: bytes) -> None:
    combined = crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


@settings(deadline=None)  # its first example builds the tables; the timing is not the point
@given(st.integers(0, 2**32 - 1), st.integers(0, 400_000), st.randoms(use_true_random=False))
def test_combined_crc_holds_for_block_sized_lengths(
    first: int, length: int, rng: random.Random
) -> None:
    """Lengths of a real block's text (tens to hundreds of kB) use the tables of high bits."""
    second = rng.randbytes(length)
    prefix = first.to_bytes(4, "little")
    combined = crc32_combine(zlib.crc32(prefix), zlib.crc32(second), length)
    assert combined == zlib.crc32(prefix + second)


@given(st.lists(st.binary(max_size=3000), max_size=12), st.binary(max_size=500))
def test_a_gzip_answer_is_one_member_holding_every_block_then_the_live_part(
    pieces: list[bytes], live: bytes
) -> None:
    scrape = Scrape([Block(piece) if i % 2 else piece for i, piece in enumerate(pieces)])
    body = scrape.body(live, gzip=True)
    whole = b"".join(pieces) + live
    assert gzip.decompress(body) == whole
    reader = zlib.decompressobj(31)
    assert reader.decompress(body) == whole and reader.eof and not reader.unused_data
    decoder = httpx._decoders.GZipDecoder()  # a client that reads the first member only
    assert decoder.decode(body) + decoder.flush() == whole
    assert scrape.body(b"", gzip=False) == b"".join(pieces)


class _Counted:
    def __init__(self) -> None:
        self.lines = 0

    def __call__(self, key: str, value: object) -> bytes:
        self.lines += 1
        return f"{key} {id(value)}\n".encode()


def _render(blocks: Blocks, line: _Counted, keys: list[str], objects: dict) -> list[Block]:  # type: ignore[type-arg]
    members = [objects.setdefault(key, object()) for key in keys]
    ends = [i + 1 for i, key in enumerate(keys) if not hash(key) % BLOCK_SERIES]
    return blocks.render(keys, members, ends, line)


def _joined(blocks: list[Block]) -> bytes:
    return b"".join(b.plain for b in blocks)


def test_only_blocks_whose_objects_changed_are_rendered_again() -> None:
    blocks, line, objects = Blocks(), _Counted(), {}  # type: ignore[var-annotated]
    keys = [f"series {n}" for n in range(40 * BLOCK_SERIES)]
    first = _render(blocks, line, keys, objects)
    assert line.lines == len(keys) and len(first) > 10
    assert _joined(first) == b"".join(line(k, objects[k]) for k in keys)
    line.lines = 0

    again = _render(blocks, line, keys, objects)
    assert line.lines == 0 and all(a is b for a, b in zip(first, again, strict=True))

    objects["series 5"] = object()  # one series changed: its block alone is rendered
    changed = _render(blocks, line, keys, objects)
    fresh = [b for a, b in zip(first, changed, strict=True) if a is not b]
    assert len(fresh) == 1 and line.lines == len(fresh[0].members)
    assert _joined(changed) == _joined(_render(Blocks(), line, keys, objects))

    line.lines = 0
    fewer = [key for key in keys if key != "series 900"]
    left = _render(blocks, line, fewer, objects)  # a series leaves: only its block moves
    assert len({id(b) for b in left} - {id(b) for b in changed}) <= 2
    assert line.lines <= 2 * max(len(b.members) for b in left)
    assert _joined(left) == b"".join(line(k, objects[k]) for k in fewer)


def test_blocks_end_with_teams_that_fill_one_and_tiny_teams_share_one() -> None:
    """A write of a few teams re-renders those teams' blocks, not their neighbours'."""
    from itertools import count

    from usagelens.domain.model import Dimension
    from usagelens.scrape import TEAM_BLOCK_MIN, block_ends

    spread = BLOCK_SERIES // 3
    names = (f"host-{n}" for n in count())
    quiet = (name for name in names if hash(name) % spread)  # no resource ends a block

    def team(name: str, resources: int) -> list[tuple[str, str, Dimension]]:
        return [
            (name, host, d) for host in (next(quiet) for _ in range(resources)) for d in Dimension
        ]

    big, tiny = TEAM_BLOCK_MIN // 3 + 2, 1  # resources: more and fewer series than the minimum
    keys = team("a", big) + team("b", tiny) + team("c", tiny) + team("d", big) + team("e", big)
    a, b, c, d = (3 * n for n in (big, tiny, tiny, big))
    assert block_ends(keys, Dimension.NETFLOW) == [a, a + b + c + d]  # b, c and d share one

    loud = next(name for name in names if not hash(name) % spread)
    keys[1] = (keys[1][0], loud, keys[1][2])  # a resource's own end, mid-dimensions: none
    keys[a - 1] = (keys[a - 1][0], loud, Dimension.NETFLOW)  # after its last: one
    assert block_ends(keys, Dimension.NETFLOW) == [a, a + b + c + d]
    keys[2] = ("a", loud, Dimension.NETFLOW)
    assert block_ends(keys, Dimension.NETFLOW) == [3, a, a + b + c + d]
