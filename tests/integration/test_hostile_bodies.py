"""No 500 from input: every endpoint that takes a body answers pathological bodies with a
clean 4xx problem and stores nothing."""

from __future__ import annotations

import pytest

from tests.conftest import InProcessClient

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
    ("POST", "/api/v1/policy/diff", {"Content-Type": "application/yaml"}),
    ("PUT", "/api/v1/prices?origin=http://a:1&rank=2", {"Content-Type": "application/json"}),
    ("PUT", "/api/v1/sources/position?source=t", {"Content-Type": "application/json"}),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory):  # type: ignore[no-untyped-def]
    from usagelens.api import create_app
    from usagelens.config import load_settings
    from usagelens.storage import create_engine_for, migrate

    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'h.db'}"
    settings = load_settings(database_url=url, api_token=TOKEN, max_body_bytes=2_000_000)
    engine = create_engine_for(url)
    migrate(engine)
    engine.dispose()
    client = InProcessClient(create_app(settings))
    yield client
    client.close()


@pytest.mark.parametrize(("method", "path", "headers"), ENDPOINTS)
@pytest.mark.parametrize("name", sorted(BODIES))
def test_hostile_body_is_a_clean_4xx(api, method: str, path: str, headers: dict, name: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    version = api.get("/api/v1/costs/total").json()
    answer = api.request(method, path, content=BODIES[name], headers={**AUTH, **headers})
    assert 400 <= answer.status_code < 500, (name, path, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"]
    assert api.get("/api/v1/costs/total").json() == version  # nothing stored


@pytest.mark.parametrize(("method", "path", "headers"), ENDPOINTS)
def test_over_the_limit_and_byte_by_byte(api, method: str, path: str, headers: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    version = api.get("/api/v1/costs/total").json()
    over = api.request(method, path, content=b"x" * 2_500_000, headers={**AUTH, **headers})
    assert over.status_code == 413, over.text[:200]
    assert over.headers["content-type"].startswith("application/problem+json")
    trickle = (bytes([b]) for b in b'{"status": 200, "endpoint": ' + b"[" * 3000)
    answer = api.request(method, path, content=trickle, headers={**AUTH, **headers})
    assert 400 <= answer.status_code < 500, answer.text[:200]
    assert api.get("/api/v1/costs/total").json() == version
