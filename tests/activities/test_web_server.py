"""`starter.py desk-user` and `starter.py web` as an operator runs them, and the desk served
by uvicorn on real loopback: what it answers and what its logs leave out."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import uvicorn

from activities.store import Store
from cli.web_server import server_config
from tests.helpers.cli import refuse_connect
from tests.helpers.databases import sqlite_store
from tests.helpers.desk import PASSWORD, TOKEN_FIELD, add_desk_users
from tests.helpers.eventually import eventually
from tests.helpers.paths import PROJECT_DIR
from web.mounts import desk_app
from web.settings import WebSettings


def starter(
    tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'collections.db'}",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "starter.py", *args],
        cwd=PROJECT_DIR,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_desk_user_reads_the_password_from_stdin_and_never_shows_a_hash(tmp_path: Path) -> None:
    added = starter(
        tmp_path, "desk-user", "add", "agent7", "--role", "agent", stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    again = starter(tmp_path, "desk-user", "add", "agent7", "--role", "agent", stdin=PASSWORD)
    assert again.returncode == 1 and "--reset" in again.stderr
    reset = starter(
        tmp_path, "desk-user", "add", "agent7", "--reset", stdin="another long password\n"
    )
    assert reset.returncode == 0, reset.stderr
    listed = starter(tmp_path, "desk-user", "list")
    assert re.search(r"agent7\s+agent\s+all\s+active\s+set", listed.stdout), listed.stdout
    assert starter(tmp_path, "desk-user", "disable", "agent7").returncode == 0
    listed = starter(tmp_path, "desk-user", "list")
    assert "disabled" in listed.stdout
    everything = "".join(run.stdout + run.stderr for run in (added, again, reset, listed))
    assert "$argon2" not in everything and PASSWORD not in everything


@pytest.mark.parametrize(
    ("password", "problem"), [("", "password: empty"), ("seven c", "password: at least 8")]
)
def test_desk_user_refuses_an_unfit_password(tmp_path: Path, password: str, problem: str) -> None:
    refused = starter(tmp_path, "desk-user", "add", "agent7", "--role", "agent", stdin=password)
    assert refused.returncode == 2 and problem in refused.stderr
    assert "agent7" not in starter(tmp_path, "desk-user", "list").stdout


def test_web_refuses_a_database_behind_the_newest_revision(tmp_path: Path) -> None:
    behind = Store.from_url(f"sqlite:///{tmp_path / 'collections.db'}")
    behind.migrate("0008_debt_by_part")
    behind.dispose()
    refused = starter(tmp_path, "web", WEB_PORT="0")
    assert refused.returncode == 1 and "starter.py migrate" in refused.stderr


def test_web_off_loopback_needs_a_session_secret(tmp_path: Path) -> None:
    refused = starter(tmp_path, "web", WEB_HOST="0.0.0.0")
    assert refused.returncode == 2 and "WEB_SESSION_SECRET" in refused.stderr


async def test_the_desk_served_on_loopback_signs_in_and_logs_no_secret(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    store = sqlite_store(tmp_path)
    add_desk_users(store)
    settings = WebSettings(port=0)
    desk = desk_app(settings, store, temporal_client=refuse_connect, environ={})
    server = uvicorn.Server(server_config(settings, desk))
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, seconds=20)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as browser:
            assert (await browser.get("/healthz")).text == "ok"
            form = await browser.get("/login")
            token = TOKEN_FIELD.search(form.text)
            assert token is not None
            fields = {"username": "agent1", "password": PASSWORD, "csrf_token": token.group(1)}
            wrong = await browser.post("/login", data={**fields, "password": "guessed wrong"})
            assert wrong.status_code == 401
            signed_in = await browser.post("/login", data=fields)
            assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/queue")
            assert "server" not in signed_in.headers
            assert (await browser.get("/queue")).status_code == 200
    finally:
        server.should_exit = True
        await serving
        store.dispose()
    logs = "".join(capfd.readouterr())
    assert '"POST /login HTTP/1.1" 303' in logs  # the access log was captured
    assert PASSWORD not in logs and "guessed wrong" not in logs and token.group(1) not in logs
