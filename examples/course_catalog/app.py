"""Keep a catalogue of courses in SQLite behind a small FastAPI app.

Run from this folder: ``uvicorn app:app`` (add ``--workers 2`` for two processes sharing
one catalogue). The database file is ``$COURSE_DB``, by default ``./courses.db``.
"""

import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

logger = logging.getLogger("course_catalog")


class CourseIn(BaseModel):
    """A course as a client sends it."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^/]+$")
    desc: str = Field(max_length=255)


class CourseOut(BaseModel):
    """A course as the catalogue answers it."""

    name: str
    desc: str


class UnitOut(BaseModel):
    """Which unit of which course was asked for."""

    course: str
    unit_id: int


class StatusOut(BaseModel):
    """The answer to a change that worked."""

    status: Literal["ok"] = "ok"


class ErrorOut(BaseModel):
    """The answer to a request that failed: what went wrong, for a person to read."""

    detail: str


BAD_NAME: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The course name is all digits"}
}
UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No course has this name"}
}
SORT_COLUMNS = {"name": "name", "desc": "description"}


def connect(path: str) -> sqlite3.Connection:
    """Open the catalogue, waiting up to 10 s for another process's write to finish."""
    return sqlite3.connect(path, timeout=10, check_same_thread=False)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Configure logging and create the table if it is missing, once per worker."""
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s:     %(name)s[%(process)d]: %(message)s"
    )
    app.state.db_path = os.environ.get("COURSE_DB", "./courses.db")
    with closing(connect(app.state.db_path)) as db, db:
        # WAL lets one process write while others read; the setting stays in the file.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS courses (name TEXT PRIMARY KEY, description TEXT NOT NULL)"
        )
    yield


def get_db(request: Request) -> Iterator[sqlite3.Connection]:
    """Open one connection for one request and close it afterwards."""
    # FastAPI may run this and the endpoint in different threads of its pool, hence
    # check_same_thread=False; the connection is still used by one request at a time.
    db = connect(request.app.state.db_path)
    try:
        yield db
    finally:
        db.close()


Db = Annotated[sqlite3.Connection, Depends(get_db)]
SortBy = Literal["name", "desc"]
Order = Literal["asc", "desc"]

app = FastAPI(title="Course catalogue", lifespan=lifespan)


def reject_digits(name: str) -> None:
    """Refuse a course name made only of digits: it looks like an id, not a name."""
    if name.isdigit():
        raise HTTPException(400, detail=f"course name {name!r} is all digits")


def find(db: sqlite3.Connection, name: str) -> CourseOut:
    """Return the course called ``name`` or answer 404."""
    row = db.execute("SELECT name, description FROM courses WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise HTTPException(404, detail=f"no course named {name!r}")
    return CourseOut(name=row[0], desc=row[1])


@app.put("/course", responses=BAD_NAME)
def put_course(course: CourseIn, db: Db) -> StatusOut:
    """Add a course, or replace the description of the course with that name."""
    reject_digits(course.name)
    with db:  # commit before answering, so that every worker sees the change at once
        db.execute(
            "INSERT INTO courses (name, description) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET description = excluded.description",
            (course.name, course.desc),
        )
    return StatusOut()


@app.get("/courses")
def list_courses(db: Db, sort: SortBy = "name", order: Order = "asc") -> list[CourseOut]:
    """List every course, sorted by ``sort`` in ``order``."""
    # Both come from fixed choices, so putting them into the SQL text is safe.
    rows = db.execute(
        f"SELECT name, description FROM courses ORDER BY {SORT_COLUMNS[sort]} {order}, name"
    ).fetchall()
    return [CourseOut(name=name, desc=desc) for name, desc in rows]


@app.get("/course/{course_name}", responses=BAD_NAME | UNKNOWN)
def get_course(
    course_name: str,
    db: Db,
    sort: SortBy = "name",
    order: Order = "asc",
    x_auth_token: Annotated[str | None, Header()] = None,
) -> CourseOut:
    """Answer one course.

    ``sort`` and ``order`` are checked as on ``GET /courses`` but change nothing here:
    one course has nothing to sort.
    """
    # Log whether a token came, never the token: logs are read by more people than secrets.
    logger.info(
        "GET /course/%s: X-Auth-Token %s", course_name, "present" if x_auth_token else "absent"
    )
    reject_digits(course_name)
    return find(db, course_name)


@app.delete("/course/{course_name}", responses=BAD_NAME | UNKNOWN)
def delete_course(course_name: str, db: Db) -> StatusOut:
    """Remove a course."""
    reject_digits(course_name)
    with db:
        deleted = db.execute("DELETE FROM courses WHERE name = ?", (course_name,)).rowcount
    if not deleted:
        raise HTTPException(404, detail=f"no course named {course_name!r}")
    return StatusOut()


@app.get("/course/{course_name}/unit/{unit_id}", responses=BAD_NAME | UNKNOWN)
def get_unit(course_name: str, unit_id: int, db: Db) -> UnitOut:
    """Answer which unit of an existing course was asked for (units are not stored)."""
    reject_digits(course_name)
    course = find(db, course_name)
    return UnitOut(course=course.name, unit_id=unit_id)
