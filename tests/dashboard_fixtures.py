"""What the browser tests share: a seeded serving database behind an Outage front (a database restart as the
dashboard sees it), `altaviz dashboard` served on a free port, and what a page shows once it is drawn."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import serving_seed
from altaviz.config import PROJECT_ROOT
from altaviz.io import db

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "dashboard"
PAGES = ("Fleet Overview", "Real-Time Monitoring", "Predictive Alerts", "Data Quality")
COMPRESSORS = 12
ERROR_TEXT = re.compile(r"Traceback|Exception|Error:|KeyError|NameError")
PAGE_READY = {  # what a page shows once it has drawn its data (visible: only the page in front counts)
    "Fleet Overview": "path.altaviz-unit",
    "Real-Time Monitoring": ".js-plotly-plot >> visible=true",
    "Predictive Alerts": "text=showing",
    "Data Quality": "text=Compressors in the latest run",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Outage:
    """A TCP front for the embedded PostgreSQL's socket that can be cut and restored: a database outage as
    the dashboard sees it, without stopping the server every other test uses."""

    def __init__(self, socket_path: str, port: int):
        self.socket_path, self.port = socket_path, port
        self.loop = asyncio.new_event_loop()
        self.server = None
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self, client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_unix_connection(self.socket_path)
        with contextlib.suppress(asyncio.CancelledError):  # cut by down(): not an error for asyncio to log
            await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))

    def up(self):
        async def start():
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def down(self):
        async def stop():
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)


@pytest.fixture(scope="module")
def seeded(settings, request):
    """A database of the test module's own with the seeded fleet, reached through an Outage front on a TCP port.
    (One per module: the engines of an earlier module may still hold connections to theirs.)"""
    where = db.target(settings)
    name = "altaviz_" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    outage = Outage(f"{where.host}/.s.PGSQL.{where.port}", free_port())
    outage.up()
    parts = conninfo_to_dict(where.conninfo)
    url = make_conninfo(user=parts.get("user", "postgres"), host="127.0.0.1", port=str(outage.port), dbname=name)
    seeded_settings = replace(settings, database=replace(settings.database, url=url))
    serving_seed.seed(seeded_settings, compressors=COMPRESSORS)
    yield seeded_settings, url, outage


@dataclass(frozen=True)
class Served:
    """A running `altaviz dashboard`: its address, the process that runs Voila (its child), and their log."""

    url: str
    process: subprocess.Popen
    log: Path

    def kernels(self) -> int:
        """The kernels Voila holds right now: its ipykernel child processes (Voila lists no kernels over HTTP)."""
        count = 0
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):  # a kernel that ended while being counted
                count += "ipykernel_launcher" in child.cmdline()
        return count


@contextlib.contextmanager
def serving(database_url: str, *, refresh_seconds: int, log_name: str, cull_idle_seconds: int | None = None):
    """`altaviz dashboard` on a free port, serving this database; stopped even when a test fails."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "ALTAVIZ_DASHBOARD_REFRESH_SECONDS": str(refresh_seconds)}
    options = [] if cull_idle_seconds is None else [f"--cull-idle-seconds={cull_idle_seconds}"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / log_name, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "altaviz.cli", "dashboard", "--port", str(port), *options],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        yield Served(f"http://127.0.0.1:{port}/", server, ARTIFACTS / log_name)
    finally:
        server.terminate()
        server.wait(timeout=30)


def show(page, name: str):
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_selector(PAGE_READY[name], timeout=60_000)
    page.wait_for_timeout(300)


def body_text(page) -> str:
    return " ".join(page.locator("body").inner_text().split())
