"""The course catalogue: its routes in-process, then as a real uvicorn server, one and two workers."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.conftest import InProcessClient
from tests.examples.conftest import CATALOG, load_example

TOKEN = "s3cret-token-never-logged"


@pytest.fixture(scope="module")
def catalog_app() -> ModuleType:
    return load_example(CATALOG / "app.py", "course_catalog_app")


@pytest.fixture
def client(
    catalog_app: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcessClient]:
    """The app in-process, on a fresh database file."""
    monkeypatch.setenv("COURSE_DB", str(tmp_path / "courses.db"))
    client = InProcessClient(catalog_app.app)
    yield client
    client.close()


def put(client: InProcessClient | httpx.Client, name: str, desc: str) -> httpx.Response:
    return client.put("/course", json={"name": name, "desc": desc})


def test_a_course_is_added_read_replaced_and_deleted(client: InProcessClient) -> None:
    assert put(client, "python", "Python basics").json() == {"status": "ok"}
    assert client.get("/course/python").json() == {"name": "python", "desc": "Python basics"}

    assert put(client, "python", "Python, again").status_code == 200
    assert client.get("/course/python").json()["desc"] == "Python, again"

    assert client.delete("/course/python").json() == {"status": "ok"}
    assert client.get("/course/python").status_code == 404


def test_an_unknown_course_is_404_on_every_route(client: InProcessClient) -> None:
    for response in (
        client.get("/course/nope"),
        client.delete("/course/nope"),
        client.get("/course/nope/unit/1"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "no course named 'nope'"}


def test_an_all_digit_name_is_400_on_every_route(client: InProcessClient) -> None:
    for response in (
        put(client, "2024", "a year, not a name"),
        client.get("/course/2024"),
        client.delete("/course/2024"),
        client.get("/course/2024/unit/1"),
    ):
        assert response.status_code == 400
        assert response.json() == {"detail": "course name '2024' is all digits"}


def test_the_400_model_is_documented_in_openapi(client: InProcessClient) -> None:
    spec = client.get("/openapi.json").json()

    for path, method in [
        ("/course", "put"),
        ("/course/{course_name}", "get"),
        ("/course/{course_name}", "delete"),
        ("/course/{course_name}/unit/{unit_id}", "get"),
    ]:
        answer = spec["paths"][path][method]["responses"]["400"]
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }
    assert spec["components"]["schemas"]["ErrorOut"]["required"] == ["detail"]


def test_bad_input_is_422(client: InProcessClient) -> None:
    put(client, "python", "Python basics")

    assert put(client, "long", "x" * 256).status_code == 422
    assert put(client, "long", "x" * 255).status_code == 200
    assert client.put("/course", json={"name": "no desc"}).status_code == 422
    assert put(client, "a/b", "unreachable by GET").status_code == 422
    assert client.get("/course/python/unit/one").status_code == 422
    assert client.get("/course/python", params={"order": "sideways"}).status_code == 422


def test_a_unit_of_a_course_has_an_integer_id(client: InProcessClient) -> None:
    put(client, "python", "Python basics")

    assert client.get("/course/python/unit/3").json() == {"course": "python", "unit_id": 3}


def test_sort_and_order_sort_the_list_and_leave_one_course_alone(client: InProcessClient) -> None:
    put(client, "b", "1 first by desc")
    put(client, "a", "2 second by desc")
    put(client, "c", "0 zeroth by desc")

    def names(**params: str) -> list[str]:
        return [course["name"] for course in client.get("/courses", params=params).json()]

    assert names() == ["a", "b", "c"]
    assert names(order="desc") == ["c", "b", "a"]
    assert names(sort="desc") == ["c", "b", "a"]
    assert names(sort="desc", order="desc") == ["a", "b", "c"]
    one = client.get("/course/a", params={"sort": "desc", "order": "desc"})
    assert one.json() == {"name": "a", "desc": "2 second by desc"}


def test_the_token_is_logged_as_present_never_its_value(
    client: InProcessClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="course_catalog")
    put(client, "python", "Python basics")

    client.get("/course/python", headers={"X-Auth-Token": TOKEN})
    client.get("/course/python")

    assert [r.getMessage() for r in caplog.records if r.name == "course_catalog"] == [
        "GET /course/python: X-Auth-Token present",
        "GET /course/python: X-Auth-Token absent",
    ]
    assert TOKEN not in caplog.text


@pytest.mark.slow
def test_the_readme_commands_serve_the_catalogue(catalog_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = catalog_server()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert put(http, "python", "Python basics").json() == {"status": "ok"}
        answer = http.get("/course/python", headers={"X-Auth-Token": TOKEN})
        assert answer.json() == {"name": "python", "desc": "Python basics"}
        assert http.get("/course/42").status_code == 400
        assert http.get("/course/python/unit/7").json() == {"course": "python", "unit_id": 7}
        assert http.delete("/course/python").status_code == 200
        assert http.get("/course/python").status_code == 404

    assert (tmp_path / "courses.db").exists()  # COURSE_DB, not the example's folder
    log = server.log.read_text()
    assert re.search(r"course_catalog\[\d+\]: GET /course/python: X-Auth-Token present", log), log
    assert TOKEN not in log


@pytest.mark.slow
def test_two_workers_serve_one_catalogue(catalog_server) -> None:  # type: ignore[no-untyped-def]
    server = catalog_server(workers=2)
    course = {"name": "python", "desc": "Python basics"}
    assert httpx.put(server.url + "/course", json=course, timeout=10).status_code == 200

    # Each httpx.get opens a new connection; the kernel hands it to either worker. Ask
    # until both have answered (each logs its process id), and check every answer.
    pids: set[str] = set()
    deadline = time.monotonic() + 30
    asked = 0
    while len(pids) < 2 and time.monotonic() < deadline:
        for _ in range(10):
            answer = httpx.get(server.url + "/course/python", timeout=10)
            assert answer.json() == course
            asked += 1
        pids = set(
            re.findall(r"course_catalog\[(\d+)\]: GET /course/python", server.log.read_text())
        )

    assert len(pids) == 2, f"{asked} answers, all from worker {pids}"
