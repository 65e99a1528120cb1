"""The migration runner and the schema, on a real PostgreSQL through the loader's driver."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest
from sqlglot import exp

from risk.warehouse.columns import RISK_EVENTS_COLUMNS
from risk.warehouse.connection import Warehouse, connect_dsn
from risk.warehouse.dialect import parse_redshift, split_statements
from risk.warehouse.migrations import MigrationError, applied_versions, discover, migrate
from tests.conftest import SCHEMA_DIR

EXPECTED_VERSIONS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26]
POSTGRES_TYPES = {
    "text": "character varying",
    "timestamp": "timestamp without time zone",
    "decimal": "numeric",
    "double": "double precision",
    "int": "integer",
    "bool": "boolean",
    "super": "jsonb",
}


def test_every_migration_parses_as_redshift_sql() -> None:
    migrations = discover(SCHEMA_DIR)
    assert [m.version for m in migrations] == EXPECTED_VERSIONS
    for migration in migrations:
        for statement in migration.statements:
            parse_redshift(statement)  # raises on invalid SQL


def test_a_parse_error_names_the_file_and_the_statement(tmp_path: Path) -> None:
    (tmp_path / "V001__ok.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (tmp_path / "V002__broken.sql").write_text("CREATE TABLE b (x INTEGER);\nSELECT FROM WHERE (;\n")
    with pytest.raises(MigrationError, match=r"V002__broken\.sql, statement 2 \('SELECT FROM WHERE \(;?'\)"):
        discover(tmp_path)


def test_badly_named_and_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001_risk.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"001_risk\.sql: migration files are named"):
        discover(tmp_path)
    (tmp_path / "001_risk.sql").unlink()
    (tmp_path / "V001__a.sql").write_text("SELECT 1;")
    (tmp_path / "V0001__b.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="share version 1"):
        discover(tmp_path)


def test_migrations_apply_to_a_fresh_database_and_twice_is_a_no_op(fresh_database: str) -> None:
    with connect_dsn(fresh_database) as warehouse:
        assert migrate(warehouse, SCHEMA_DIR) == EXPECTED_VERSIONS
        assert migrate(warehouse, SCHEMA_DIR) == []
        assert applied_versions(warehouse) == EXPECTED_VERSIONS
        rows = warehouse.fetchall("SELECT version, filename, checksum FROM schema_migrations ORDER BY version")
    expected = [(m.version, m.filename, m.checksum) for m in discover(SCHEMA_DIR)]
    assert [(v, f, c.strip()) for v, f, c in rows] == expected


def test_concurrent_runners_apply_each_migration_once(fresh_database: str) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            with connect_dsn(fresh_database) as warehouse:
                start.wait()
                results.append(migrate(warehouse, SCHEMA_DIR))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(v for applied in results for v in applied) == EXPECTED_VERSIONS
    with connect_dsn(fresh_database) as warehouse:
        assert warehouse.scalar("SELECT COUNT(*) FROM schema_migrations") == len(EXPECTED_VERSIONS)


def test_a_changed_applied_migration_is_refused_before_anything_runs(fresh_database: str, tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, schema)
    for later in schema.glob("*.sql"):
        if int(later.name[1:4]) > 3:
            later.unlink()
    with connect_dsn(fresh_database) as warehouse:
        assert migrate(warehouse, schema) == [1, 2, 3]
        views = schema / "V002__views.sql"
        views.write_text(views.read_text() + "\n-- an innocent-looking edit\n")
        shutil.copy(SCHEMA_DIR / "V004__mask_pseudonymised_keys.sql", schema)
        with pytest.raises(MigrationError, match=r"V002__views\.sql was changed after it was applied"):
            migrate(warehouse, schema)
        assert applied_versions(warehouse) == [1, 2, 3]


def test_a_failing_migration_leaves_no_trace(fresh_database: str, tmp_path: Path) -> None:
    (tmp_path / "V001__good.sql").write_text("CREATE TABLE good (x INTEGER);")
    (tmp_path / "V002__bad.sql").write_text("CREATE TABLE half (x INTEGER);\nINSERT INTO missing VALUES (1);")
    with connect_dsn(fresh_database) as warehouse:
        with pytest.raises(Exception, match="missing"):
            migrate(warehouse, tmp_path)
        warehouse.rollback()
        assert applied_versions(warehouse) == [1]
        tables = warehouse.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_name IN ('good', 'half') ORDER BY 1"
        )
        assert tables == [("good",)]


def test_risk_events_ddl_matches_the_loader_columns(warehouse: Warehouse) -> None:
    rows = warehouse.fetchall(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        ("risk_events",),
    )
    assert rows == [(name, POSTGRES_TYPES[kind]) for name, kind in RISK_EVENTS_COLUMNS]


def test_risk_events_redshift_ddl_declares_every_column_of_columns_py() -> None:
    """V001 creates the table; later migrations add columns (ALTER TABLE ... ADD COLUMN), in file order."""
    (table,) = [s for s in split_statements((SCHEMA_DIR / "V001__risk_events.sql").read_text()) if "risk_events" in s]
    added = [
        s
        for f in sorted(SCHEMA_DIR.glob("V*.sql"), key=lambda p: int(p.name[1:].split("__")[0]))
        for s in split_statements(f.read_text())
        if re.search(r"\bALTER\s+TABLE\s+risk_events\s+ADD\s+COLUMN\b", s, re.IGNORECASE)
    ]
    declared = []
    for statement in [table, *added]:
        tree = parse_redshift(statement)
        assert tree is not None
        declared += [(col.name, col.args["kind"].sql(dialect="redshift")) for col in tree.find_all(exp.ColumnDef)]
    assert [name for name, _ in declared] == [name for name, _ in RISK_EVENTS_COLUMNS]
    super_columns = [name for name, type_ in declared if type_ == "SUPER"]
    assert super_columns == [name for name, kind in RISK_EVENTS_COLUMNS if kind == "super"]
