"""Where the serving database is and how it is described: never with the password."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from altaviz.io import db
from altaviz.config import PROJECT_ROOT, load_settings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released on exit: nothing listens there


@pytest.mark.parametrize("url", [
    "postgresql://ops:hunter2@db.example:6543/fleet",
    "host=db.example port=6543 dbname=fleet user=ops password=hunter2",
    "postgresql://ops@db.example:6543/fleet?password=hunter2",
])
def test_external_url_is_described_without_its_password(url):
    settings = load_settings(env={"DATABASE_URL": url})
    where = db.target(settings)
    assert where.describe() == "PostgreSQL at host=db.example port=6543 dbname=fleet"
    shown = db.redacted_url(settings)
    assert "hunter2" not in shown and "***" in shown and "db.example" in shown


def test_db_variables_build_the_connection():
    settings = load_settings(env={"DB_HOST": "db.example", "DB_PORT": "6543", "DB_NAME": "fleet",
                                  "DB_USER": "ops", "DB_PASSWORD": "p@ss word"})
    where = db.target(settings)
    assert where.describe() == "PostgreSQL at host=db.example port=6543 dbname=fleet"
    assert "p@ss word" not in db.redacted_url(settings)


def test_unreachable_database_names_host_port_database_not_password():
    port = closed_port()
    settings = load_settings(env={"DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_PASSWORD": "s3cr3t"})
    with pytest.raises(db.DatabaseUnavailable) as failure:
        with db.connect(settings):
            pass
    message = str(failure.value)
    assert f"host=127.0.0.1 port={port} dbname=altaviz" in message and "s3cr3t" not in message


def test_run_against_a_stopped_database_exits_non_zero(tmp_path):
    """`altaviz run` fails before any notebook runs, with a message an operator can act on."""
    port = closed_port()
    env = {"PATH": "/usr/bin:/bin", "DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_PASSWORD": "s3cr3t",
           "ALTAVIZ_DATA_DIR": str(tmp_path / "data"), "ALTAVIZ_RUNS_DIR": str(tmp_path / "runs")}
    completed = subprocess.run([sys.executable, "-m", "altaviz.cli", "run", "--run-id", "down"], env=env,
                               capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert completed.returncode != 0
    assert f"cannot connect to PostgreSQL at host=127.0.0.1 port={port} dbname=altaviz" in completed.stderr
    assert "s3cr3t" not in completed.stdout + completed.stderr
    assert not (tmp_path / "runs" / "down").exists()  # no notebook ran
