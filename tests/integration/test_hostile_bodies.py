"""No 500 from input: every endpoint that takes a body answers pathological bodies with a
clean 4xx problem and stores nothing, on a real SQLite file and a real PostgreSQL database.

"Nothing stored" is the store's whole content (its export) and the table source's read
position, compared before and after, on a store seeded with something of every kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import InProcessClient, store_content
from usagelens.domain.ids import LOCATOR_MAX, NAME_MAX

TOKEN = "hostile-token"
AUTH = {"X-Auth-Token": TOKEN}

BODIES = {
    "empty": b"",
    "deep JSON": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "huge number": b'{"status": 1' + b"0" * 5000 + b', "endpoint": "/x", "time": 1}',
    "huge float": b'[{"team":"t","resource":"r","dimension":"CPU",'
    b'"collected_at":"2026-01-01 00:00:00","usage":1e999999}]',
    "nan": b'{"status": 200, "endpoint": "/x", "time": NaN}',
    "invalid UTF-8": b"\xff\xfe\xfa team|(r,CPU,2026-01-01 00:00:00,1)",
    "UTF-16": "t|(r,CPU,2026-01-01 00:00:00,1)".encode("utf-16"),
    "NUL bytes": b"\x00" * 1000,
    "binary": bytes(range(256)) * 64,
    "YAML bomb": b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n".encode()
        for i in range(9)
    ),
    "long line": b"t|" + b"(r,CPU,2026-01-01 00:00:00,1);" * 1 + b"x" * 1_500_000,
}

ENDPOINTS = [
    ("POST", "/api/v1/usage", {"Content-Type": "text/plain"}),
    ("POST", "/api/v1/usage", {"Content-Type": "application/json"}),
    ("PUT", "/api/v1/prices", {"Content-Type": "application/yaml"}),
    ("POST", "/metric-receiver", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/policy/preview", {"Content-Type": "application/yaml"}),
    ("POST", "/api/v1/policy/preview", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/policy/diff", {"Content-Type": "application/yaml"}),
    ("POST", "/api/v1/policy/diff", {"Content-Type": "application/json"}),
    ("PUT", "/api/v1/prices?origin=http://a:1", {"Content-Type": "application/json"}),
    ("PUT", "/api/v1/prices/sources", {"Content-Type": "application/json"}),
    ("PUT", "/api/v1/sources/position?source=t", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/import", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/import?dry_run=true", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/prune", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/recommendations/exclusions", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/recommendations/digest", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/recommendations/{rec_id}/state", {"Content-Type": "application/json"}),
]


JSON, TEXT, YAML = "application/json", "text/plain", "application/yaml"
SEED = [
    (
        "POST",
        "/api/v1/usage",
        TEXT,
        b"t|(r,CPU,2026-01-01 00:00:00,10);(r,RAM,2026-01-01 00:00:00,20)",
    ),
    ("PUT", "/api/v1/prices", YAML, b"values:\n  r: {CPU: 5}\n"),
    ("PUT", "/api/v1/prices?origin=http://a:1", JSON, b'{"values": {"r": {"RAM": 3}}}'),
    ("POST", "/metric-receiver", JSON, b'{"status": 200, "endpoint": "/x", "time": 1}'),
    ("PUT", "/api/v1/sources/position?source=t", JSON, b'{"position": "2026-01-01T00:00:00Z"}'),
]
"""Something of every kind the body endpoints store, so that a change of any shows."""


@pytest.fixture(scope="module")
def api(module_database_url: str) -> Iterator[InProcessClient]:
    """The API on a migrated module database, seeded with SEED."""
    from usagelens.api import create_app
    from usagelens.config import load_settings

    settings = load_settings(
        database_url=module_database_url, api_token=TOKEN, max_body_bytes=2_000_000
    )
    client = InProcessClient(create_app(settings))
    try:
        for method, path, kind, body in SEED:
            answer = client.request(
                method, path, content=body, headers={**AUTH, "Content-Type": kind}
            )
            assert answer.status_code == 200, (path, answer.text)
        yield client
    finally:
        client.close()


def _stored(api: InProcessClient, url: str) -> dict[str, object]:
    position = api.get("/api/v1/sources/position?source=t").json()
    return {**store_content(url), "position": position}


def test_every_body_endpoint_is_tried(api: InProcessClient) -> None:
    document = api.get("/openapi.json").json()
    with_body = {
        (method.upper(), path, content_type)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for content_type in operation.get("requestBody", {}).get("content", {})
    }
    tried = {(m, p.split("?")[0], h["Content-Type"]) for m, p, h in ENDPOINTS}
    assert with_body - tried == set()


@pytest.mark.parametrize(("method", "path", "headers"), ENDPOINTS)
@pytest.mark.parametrize("name", sorted(BODIES))
def test_hostile_body_is_a_clean_4xx(
    api: InProcessClient,
    module_database_url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    name: str,
) -> None:
    before = _stored(api, module_database_url)
    answer = api.request(method, path, content=BODIES[name], headers={**AUTH, **headers})
    assert 400 <= answer.status_code < 500, (name, path, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"]
    assert _stored(api, module_database_url) == before  # nothing stored


@pytest.mark.parametrize(("method", "path", "headers"), ENDPOINTS)
def test_over_the_limit_and_byte_by_byte(
    api: InProcessClient, module_database_url: str, method: str, path: str, headers: dict[str, str]
) -> None:
    before = _stored(api, module_database_url)
    over = api.request(method, path, content=b"x" * 2_500_000, headers={**AUTH, **headers})
    assert over.status_code == 413, over.text[:200]
    assert over.headers["content-type"].startswith("application/problem+json")
    trickle = (bytes([b]) for b in b'{"status": 200, "endpoint": ' + b"[" * 3000)
    answer = api.request(method, path, content=trickle, headers={**AUTH, **headers})
    assert 400 <= answer.status_code < 500, answer.text[:200]
    assert _stored(api, module_database_url) == before


def test_a_problem_names_the_lone_surrogate_it_was_sent(api: InProcessClient) -> None:
    record = {"team": "a\ud800b", "resource": "r", "dimension": "CPU", "usage": 1}
    body = json.dumps([{**record, "collected_at": "2026-01-02 00:00:00"}]).encode()
    answer = api.post("/api/v1/usage", content=body, headers={**AUTH, "Content-Type": JSON})
    assert answer.status_code == 422, answer.text[:300]
    answer.content.decode("utf-8")  # valid UTF-8: the surrogate is a JSON escape
    assert (answer.json()["team"], answer.json()["field"]) == ("a\ud800b", "team")


Request = tuple[str, str, str, bytes]
"""Method, path with query, content type, body."""


def _quoted(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _usage(team: str = "t", resource: str = "r") -> bytes:
    return f"{team}|({resource},CPU,2026-01-02 00:00:00,1)".encode("utf-8", "surrogatepass")


def _usage_json(team: str = "t", resource: str = "r") -> bytes:
    record = {"team": team, "resource": resource, "dimension": "CPU"}
    return json.dumps([{**record, "collected_at": "2026-01-02 00:00:00", "usage": 1}]).encode()


def _lists(origin: str = "http://b:1", resource: str = "r") -> bytes:
    return json.dumps({"lists": [{"origin": origin, "values": {resource: {"CPU": 1}}}]}).encode()


# Where a stored name comes from: (name or locator, in the query?, how to send it).
PLACES: dict[str, tuple[str, bool, Callable[[str], Request]]] = {
    "usage text, team": ("name", False, lambda v: ("POST", "/api/v1/usage", TEXT, _usage(v))),
    "usage text, resource": (
        "name", False, lambda v: ("POST", "/api/v1/usage", TEXT, _usage(resource=v))
    ),
    "usage JSON, team": (
        "name", False, lambda v: ("POST", "/api/v1/usage", JSON, _usage_json(v))
    ),
    "usage JSON, resource": (
        "name", False,
        lambda v: ("POST", "/api/v1/usage", JSON, _usage_json(resource=v)),
    ),
    "prices YAML, resource": (
        "name", False,
        lambda v: ("PUT", "/api/v1/prices", YAML,
                   json.dumps({"values": {v: {"CPU": 1}}}).encode()),
    ),
    "prices, origin": (
        "locator", True,
        lambda v: ("PUT", f"/api/v1/prices?origin={_quoted(v)}", JSON,
                   b'{"values": {"r": {"CPU": 1}}}'),
    ),
    "source prices, origin": (
        "locator", False,
        lambda v: ("PUT", "/api/v1/prices/sources", JSON, _lists(origin=v)),
    ),
    "source prices, resource": (
        "name", False,
        lambda v: ("PUT", "/api/v1/prices/sources", JSON, _lists(resource=v)),
    ),
    "push, endpoint": (
        "name", False,
        lambda v: ("POST", "/metric-receiver", JSON,
                   json.dumps({"status": 200, "endpoint": v, "time": 1}).encode()),
    ),
    "position, source": (
        "locator", True,
        lambda v: ("PUT", f"/api/v1/sources/position?source={_quoted(v)}", JSON,
                   b'{"position": "2026-01-02T00:00:00Z"}'),
    ),
}  # fmt: skip
LIMITS = {"name": NAME_MAX, "locator": LOCATOR_MAX}
BAD_NAMES = {
    "NUL": "a\x00b",
    "control character": "a\x1bb",
    "line separator": "a\u2028b",
    "lone surrogate": "a\ud800b",
}
"""Characters no name may hold; besides, each name may be one character too long."""
CASES = [
    (place, bad)
    for place, (_, in_query, _) in PLACES.items()
    for bad in [*BAD_NAMES, "too long"]
    if not (in_query and bad == "lone surrogate")  # a URL's UTF-8 cannot carry one
]


def _send(api: InProcessClient, request: Request) -> httpx.Response:
    method, path, content_type, body = request
    return api.request(method, path, content=body, headers={**AUTH, "Content-Type": content_type})


@pytest.mark.parametrize(("place", "bad"), CASES)
def test_a_name_the_store_must_refuse_is_a_clean_4xx(
    api: InProcessClient, module_database_url: str, place: str, bad: str
) -> None:
    kind, _, build = PLACES[place]
    limit = LIMITS[kind]
    # The longest name allowed, in characters of three UTF-8 bytes, is stored: so the
    # request is well formed, and only the name makes it a refusal.
    longest = f"{place} {bad} ".replace(",", "")[:limit].ljust(limit, "名")
    stored = _send(api, build(longest))
    assert stored.status_code == 200, stored.text[:300]
    before = _stored(api, module_database_url)
    answer = _send(api, build("x" * (limit + 1) if bad == "too long" else BAD_NAMES[bad]))
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"]
    assert _stored(api, module_database_url) == before
