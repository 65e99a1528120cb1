"""Versioned migrations: ``redshift_schema/V<NNN>__<name>.sql``, applied in order, once.

Each pending file runs in its own transaction together with its ``schema_migrations`` row, under
``LOCK schema_migrations`` (an exclusive table lock on both Redshift and PostgreSQL), so two
runners at once apply each file once: the second waits, then sees the row. A file whose checksum
no longer matches its applied row stops the run before anything is applied. Every statement is
parsed with sqlglot's Redshift dialect first; an error names the file and the statement.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from risk.warehouse.connection import Warehouse
from risk.warehouse.dialect import SqlError, parse_redshift, split_statements

MIGRATIONS_TABLE = "schema_migrations"
SCHEMA_DIRECTORY = "redshift_schema"
_FILENAME = re.compile(r"^V(\d{3,})__([a-z0-9_]+)\.sql$")

CREATE_MIGRATIONS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    version    INTEGER      NOT NULL,
    filename   VARCHAR(256) NOT NULL,
    checksum   CHAR(64)     NOT NULL,
    applied_at TIMESTAMP    NOT NULL,
    PRIMARY KEY (version)
)
"""
LOCK_MIGRATIONS_TABLE = f"LOCK {MIGRATIONS_TABLE}"
RECORD_MIGRATION = (
    f"INSERT INTO {MIGRATIONS_TABLE} (version, filename, checksum, applied_at) VALUES (%s, %s, %s, GETDATE())"
)


class MigrationError(RuntimeError):
    """A migration cannot be applied: invalid SQL, a changed file, a bad file name."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str
    statements: tuple[str, ...]

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @classmethod
    def from_file(cls, path: Path) -> Migration:
        match = _FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named V<NNN>__<lower_snake_name>.sql")
        sql = path.read_text(encoding="utf-8")
        try:
            statements = split_statements(sql)
        except SqlError as exc:
            raise MigrationError(f"{path.name}: {exc}") from exc
        for number, statement in enumerate(statements, start=1):
            try:
                parse_redshift(statement)
            except SqlError as exc:
                first_line = statement.splitlines()[0]
                raise MigrationError(f"{path.name}, statement {number} ({first_line!r}): {exc}") from exc
        if not statements:
            raise MigrationError(f"{path.name}: no statements")
        return cls(int(match.group(1)), path.name, sql, tuple(statements))


def discover(directory: Path) -> list[Migration]:
    """Every migration in ``directory``, validated and ordered by version (duplicates refused)."""
    migrations = sorted(
        (Migration.from_file(path) for path in directory.glob("*.sql")),
        key=lambda migration: migration.version,
    )
    seen: dict[int, str] = {}
    for migration in migrations:
        if migration.version in seen:
            raise MigrationError(
                f"{migration.filename} and {seen[migration.version]} share version {migration.version}"
            )
        seen[migration.version] = migration.filename
    return migrations


def _applied(warehouse: Warehouse) -> dict[int, tuple[str, str]]:
    rows = warehouse.fetchall(f"SELECT version, filename, checksum FROM {MIGRATIONS_TABLE}")
    return {int(version): (str(filename), str(checksum).strip()) for version, filename, checksum in rows}


def _check_unchanged(migrations: list[Migration], applied: dict[int, tuple[str, str]]) -> None:
    for migration in migrations:
        if migration.version in applied:
            filename, checksum = applied[migration.version]
            if checksum != migration.checksum:
                raise MigrationError(
                    f"{migration.filename} was changed after it was applied (as {filename}): "
                    f"checksum {migration.checksum} != applied {checksum}. Add a new migration instead."
                )


def _ensure_table(warehouse: Warehouse) -> None:
    """Create ``schema_migrations``; two runners racing on CREATE IF NOT EXISTS can collide once."""
    try:
        with warehouse.transaction():
            warehouse.execute(CREATE_MIGRATIONS_TABLE)
    except Exception:
        with warehouse.transaction():
            warehouse.execute(CREATE_MIGRATIONS_TABLE)


def pending(warehouse: Warehouse, migrations: list[Migration]) -> list[Migration]:
    """The migrations not applied yet, after checking that the applied ones are unchanged."""
    _ensure_table(warehouse)
    with warehouse.transaction():
        applied = _applied(warehouse)
    _check_unchanged(migrations, applied)
    return [migration for migration in migrations if migration.version not in applied]


def apply(warehouse: Warehouse, migrations: list[Migration]) -> list[int]:
    """Apply the pending migrations in order; return the versions this call applied."""
    pending(warehouse, migrations)  # creates the table and refuses changed files before any lock is taken
    done: list[int] = []
    for migration in migrations:
        with warehouse.transaction():
            warehouse.execute(LOCK_MIGRATIONS_TABLE)
            applied = _applied(warehouse)  # read under the lock: another runner may have applied it
            _check_unchanged([migration], applied)
            if migration.version in applied:
                continue
            for statement in migration.statements:
                warehouse.execute(statement)
            warehouse.execute(
                RECORD_MIGRATION,
                (migration.version, migration.filename, migration.checksum),
            )
        done.append(migration.version)
    return done


def default_directory() -> Path:
    """``redshift_schema/`` next to the code: the asset root in Lambda, the repository root locally."""
    here = Path(__file__).resolve()
    for root in (here.parents[2], here.parents[3]):
        if (root / SCHEMA_DIRECTORY).is_dir():
            return root / SCHEMA_DIRECTORY
    raise MigrationError(f"no {SCHEMA_DIRECTORY}/ found next to {here}")


def migrate(warehouse: Warehouse, directory: Path) -> list[int]:
    """Discover, validate and apply: the one entry point for the custom resource and the tools."""
    return apply(warehouse, discover(directory))


def applied_versions(warehouse: Warehouse) -> list[int]:
    with warehouse.transaction():
        return sorted(_applied(warehouse))
