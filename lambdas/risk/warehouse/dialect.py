"""Redshift SQL, validated with sqlglot, and its PostgreSQL rendering for the local stand-in.

The schema and the loader's statements are written once, in Redshift's dialect. Redshift runs
the original text. PostgreSQL (tests, ``make demo``) runs a rendering in which every Redshift-only
construct is either mapped or left out, and each thing left out is reported by
:func:`postgres_omissions` so the tests can pin the exact list. Nothing else is dropped silently.

Mapped for PostgreSQL (see :data:`POSTGRES_MAPPINGS`): ``SUPER`` -> ``JSONB``,
``JSON_PARSE(x)`` -> ``CAST(x AS JSONB)``, ``GRANT ... TO ROLE r`` -> ``GRANT ... TO r``,
``CREATE ROLE r`` -> create it unless it exists (roles are cluster-wide in PostgreSQL, and each
test database runs the migrations again).

Where Redshift's semantics differ from PostgreSQL's in ways that decide correctness, the rendering
makes the stand-in behave like Redshift, so a test cannot pass here and fail there:

* ``VARCHAR(n)`` counts **bytes** in Redshift and characters in PostgreSQL: it becomes the domain
  ``redshift_varchar_n`` (``VARCHAR(n) CHECK (octet_length(VALUE) <= n)``), created on first use.
  Domains survive ``CREATE TABLE AS``, so stage tables enforce byte widths too, as in Redshift.
* ``PRIMARY KEY``/``UNIQUE`` are informational in Redshift (never enforced): they are left out, so
  no test can rely on PostgreSQL rejecting a duplicate.
* ``SORTKEY (a, b)`` becomes an index on ``(a, b)``: the stand-in's analogue of zone maps, so a
  lookup bounded by the sort key is bounded here as well (and an unbounded one is as slow).

Redshift features the schema uses as Redshift runs them, with a PostgreSQL equivalent (tests check
the Redshift text by shape and the equivalent by its results):

* ``CREATE MATERIALIZED VIEW ... [BACKUP NO] [AUTO REFRESH YES] AS q`` becomes ``CREATE VIEW ... AS
  q``: a view is what an auto-refreshed materialized view converges to, so results are the same.
* PartiQL unnesting of a SUPER array, ``FROM t AS e, e.arr AS x AT i``, becomes ``CROSS JOIN
  LATERAL (SELECT value AS x, ordinality - 1 AS i FROM jsonb_array_elements_text(e.arr) WITH
  ORDINALITY)``: ``x`` is the element as text (views cast it to VARCHAR, as Redshift needs for a
  SUPER scalar), ``i`` its zero-based position, as ``AT`` gives.
* PartiQL navigation into an unnested object, ``x.f`` where ``x`` is the element of such an unnest
  (``FROM risk_events AS r, r.shadow_scores AS s AT i``, then ``s.score``), becomes
  ``jsonb_extract_path_text(CAST(x AS JSONB), 'f')``: the attribute as text (views cast it, as Redshift
  needs for a SUPER value), NULL when the element has no such attribute, as in Redshift.
* SUPER navigation ``arr[n]`` (a literal index) becomes ``jsonb_extract_path_text(arr, 'n')``:
  zero-based like Redshift's (sqlglot's own transpilation would shift it to one-based).

Snapshot isolation, Redshift Serverless's default, is set per session by ``connect_dsn``.

Left out on PostgreSQL (see :data:`POSTGRES_OMITTED`): ``DISTSTYLE``, ``DISTKEY``, ``PRIMARY KEY``,
column ``ENCODE``, the dynamic data masking statements (``CREATE/ATTACH/DETACH/DROP MASKING
POLICY``) and ``GRANT/REVOKE ASSUMEROLE`` (who may COPY through the namespace's IAM roles), which
PostgreSQL has no equivalent for.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import exp

# sqlglot is imported inside the functions that parse: on Redshift the load function runs its SQL
# as written and never needs it, and importing it costs about 100 ms of every cold start.
# sqlglot warns each time it keeps a statement it does not model (CREATE ROLE, LOCK) as a raw
# Command; that is expected here and handled below, so only its errors are worth logging.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

Dialect = str  # "redshift" or "postgres"
REDSHIFT = "redshift"
POSTGRES = "postgres"
DIALECTS = (REDSHIFT, POSTGRES)

POSTGRES_MAPPINGS = (
    "SUPER -> JSONB",
    "JSON_PARSE(x) -> CAST(x AS JSONB)",
    "GRANT ... TO ROLE r -> GRANT ... TO r",
    "CREATE ROLE r -> CREATE ROLE r unless it exists",
    "VARCHAR(n) -> domain redshift_varchar_n (n bytes, as Redshift counts)",
    "SORTKEY (a, b) -> CREATE INDEX ON t (a, b)",
    "CREATE MATERIALIZED VIEW v [BACKUP NO] [AUTO REFRESH YES] AS q -> CREATE VIEW v AS q (always fresh)",
    "FROM t AS e, e.arr AS x AT i (SUPER unnest) -> CROSS JOIN LATERAL jsonb_array_elements_text WITH ORDINALITY",
    "arr[n] (SUPER navigation) -> jsonb_extract_path_text(arr, 'n') (zero-based, as in Redshift)",
    "x.f (navigation into an unnested object x) -> jsonb_extract_path_text(CAST(x AS JSONB), 'f')",
    "SHA2(x, 256) -> encode(sha256(convert_to(x, 'UTF8')), 'hex') (the same lower-case hex)",
)
POSTGRES_OMITTED = ("DISTSTYLE", "DISTKEY", "PRIMARY KEY", "UNIQUE", "ENCODE", "MASKING POLICY", "ASSUMEROLE")
VARCHAR_DOMAIN = "redshift_varchar_{width}"

# Redshift statements sqlglot does not parse: validated by these patterns instead, never run on PostgreSQL.
_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"
_MASKING_STATEMENTS = (
    re.compile(rf"^CREATE\s+MASKING\s+POLICY\s+{_IDENT}\s+WITH\s*\(.+\)\s+USING\s*\(.+\)$", re.I | re.S),
    re.compile(
        rf"^ATTACH\s+MASKING\s+POLICY\s+{_IDENT}\s+ON\s+{_IDENT}\s*\(\s*{_IDENT}(\s*,\s*{_IDENT})*\s*\)"
        rf"(\s+USING\s*\(.+\))?\s+TO\s+(ROLE\s+{_IDENT}|PUBLIC|{_IDENT})(\s+PRIORITY\s+\d+)?$",
        re.I | re.S,
    ),
    re.compile(rf"^DETACH\s+MASKING\s+POLICY\s+{_IDENT}\s+ON\s+{_IDENT}\s*\(.+\)\s+FROM\s+.+$", re.I | re.S),
    re.compile(rf"^DROP\s+MASKING\s+POLICY\s+(IF\s+EXISTS\s+)?{_IDENT}$", re.I | re.S),
)
_MASKING_PREFIX = re.compile(r"^(CREATE|ATTACH|DETACH|DROP)\s+MASKING\s+POLICY\b", re.I)
# GRANT/REVOKE ASSUMEROLE ON { 'arn' [, ...] | default | ALL } TO|FROM grantee FOR { ALL | COPY | ... } [, ...]
_ASSUMEROLE_CMD = r"(ALL|COPY|UNLOAD|EXTERNAL\s+FUNCTION|CREATE\s+MODEL)"
_ASSUMEROLE_STATEMENT = re.compile(
    r"^(GRANT\s+ASSUMEROLE\s+ON\s+(?P<on>.+?)\s+TO|REVOKE\s+ASSUMEROLE\s+ON\s+(?P<off>.+?)\s+FROM)\s+"
    rf"(ROLE\s+{_IDENT}|PUBLIC|{_IDENT})\s+FOR\s+{_ASSUMEROLE_CMD}(\s*,\s*{_ASSUMEROLE_CMD})*$",
    re.I | re.S,
)
_ASSUMEROLE_TARGET = re.compile(r"^(DEFAULT|ALL|'arn:aws[a-z-]*:iam::\d{12}:role/[^']+'(\s*,\s*'arn:[^']+')*)$", re.I)
_ASSUMEROLE_PREFIX = re.compile(r"^(GRANT|REVOKE)\s+ASSUMEROLE\b", re.I)
_CREATE_ROLE = re.compile(rf"^CREATE\s+ROLE\s+({_IDENT})$", re.I)


class SqlError(ValueError):
    """A statement that is not valid Redshift SQL (or has no known PostgreSQL form)."""


@dataclass(frozen=True)
class Rendered:
    """One statement for PostgreSQL: ``sql`` is None when the whole statement is left out.

    ``before`` must have run on the database first (idempotent: the byte-counting domains);
    ``after`` runs right after ``sql`` (the sort key's index).
    """

    sql: str | None
    omissions: tuple[str, ...]
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


def split_statements(script: str) -> list[str]:
    """Split a script on top-level semicolons, keeping each statement's original text."""
    from sqlglot.errors import TokenError  # noqa: PLC0415 (lazy: see the import note)
    from sqlglot.tokens import Tokenizer, TokenType  # noqa: PLC0415

    try:
        tokens = Tokenizer(dialect=REDSHIFT).tokenize(script)
    except TokenError as exc:
        raise SqlError(f"cannot tokenize: {exc}") from exc
    statements: list[str] = []
    start = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append(script[start : token.start])
            start = token.end + 1
    statements.append(script[start:])
    return [cleaned for text in statements if (cleaned := _strip_comments(text))]


def _strip_comments(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if not line.strip().startswith("--")]
    return "\n".join(lines).strip()


def _one_line(sql: str) -> str:
    return " ".join(sql.split())


def parse_redshift(statement: str) -> exp.Expr | None:
    """Validate one statement as Redshift SQL; None for the pattern-checked masking and ASSUMEROLE ones."""
    text = statement.strip()
    if _ASSUMEROLE_PREFIX.match(text):
        match = _ASSUMEROLE_STATEMENT.match(text)
        if not match or not _ASSUMEROLE_TARGET.match(match.group("on") or match.group("off")):
            raise SqlError(f"malformed ASSUMEROLE statement: {_one_line(text)[:200]}")
        return None
    if _MASKING_PREFIX.match(text):
        if not any(pattern.match(text) for pattern in _MASKING_STATEMENTS):
            raise SqlError(f"malformed masking policy statement: {_one_line(text)[:200]}")
        return None
    import sqlglot  # noqa: PLC0415 (lazy: see the import note)
    from sqlglot.errors import ParseError, TokenError  # noqa: PLC0415

    try:
        parsed = sqlglot.parse(text, read=REDSHIFT)
    except (ParseError, TokenError) as exc:
        raise SqlError(f"{exc}") from exc
    if len(parsed) != 1 or parsed[0] is None:
        raise SqlError(f"expected exactly one statement: {_one_line(text)[:200]}")
    return parsed[0]


@lru_cache(maxsize=2048)
def render_postgres(statement: str) -> Rendered:
    """The PostgreSQL form of one Redshift statement (cached: the loader repeats its statements)."""
    text = statement.strip()
    if _MASKING_PREFIX.match(text):
        parse_redshift(text)
        return Rendered(None, (f"MASKING POLICY: {_one_line(text)}",))
    if _ASSUMEROLE_PREFIX.match(text):
        parse_redshift(text)
        return Rendered(None, (f"ASSUMEROLE: {_one_line(text)}",))
    if match := _CREATE_ROLE.match(text):
        role = match.group(1)
        return Rendered(
            f"DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
            (),
        )
    from sqlglot import exp  # noqa: PLC0415 (lazy: see the import note)

    tree = parse_redshift(text)
    assert tree is not None
    if isinstance(tree, exp.Command):
        # sqlglot keeps statements it does not model (LOCK, ...) as raw text: run them as written.
        return Rendered(text, ())
    omissions: list[str] = []
    after: list[str] = []
    tree = tree.copy()
    table = _table_name(tree)
    for prop in list(tree.find_all(exp.DistStyleProperty, exp.DistKeyProperty)):
        omissions.append(f"{table}: {prop.sql(dialect=REDSHIFT)}")
        prop.pop()
    for prop in list(tree.find_all(exp.SortKeyProperty)):
        columns = ", ".join(column.name for column in prop.this)
        after.append(f"CREATE INDEX IF NOT EXISTS {table}_sortkey ON {table} ({columns})")
        prop.pop()
    for key in list(tree.find_all(exp.PrimaryKey)):
        omissions.append(f"{table}: {key.sql(dialect=REDSHIFT)} (informational in Redshift)")
        key.pop()
    for column in tree.find_all(exp.ColumnDef):
        for constraint in list(column.args.get("constraints") or []):
            kind = constraint.kind
            if isinstance(kind, exp.EncodeColumnConstraint):
                omissions.append(f"{table}.{column.name}: {constraint.sql(dialect=REDSHIFT)}")
                constraint.pop()
            elif isinstance(kind, exp.PrimaryKeyColumnConstraint | exp.UniqueColumnConstraint):
                unenforced = constraint.sql(dialect=REDSHIFT)
                omissions.append(f"{table}.{column.name}: {unenforced} (informational in Redshift)")
                constraint.pop()
    properties = tree.args.get("properties")
    if isinstance(properties, exp.Properties) and not properties.expressions:
        properties.pop()
    _materialized_view_as_view(tree)
    widths: set[int] = set()
    elements = _unnested_elements(tree)
    tree = tree.transform(lambda node: _map_for_postgres(node, widths, elements))
    before = tuple(_varchar_domain_ddl(width) for width in sorted(widths))
    return Rendered(tree.sql(dialect=POSTGRES), tuple(omissions), before, tuple(after))


def _varchar_domain_ddl(width: int) -> str:
    """A VARCHAR that counts bytes, as Redshift's does (created once per database, idempotently)."""
    name = VARCHAR_DOMAIN.format(width=width)
    return (
        f"DO $$ BEGIN CREATE DOMAIN {name} AS VARCHAR({width}) CHECK (octet_length(VALUE) <= {width}); "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )


def _table_name(tree: exp.Expr) -> str:
    from sqlglot import exp  # noqa: PLC0415

    table = tree.find(exp.Table)
    return table.name if table is not None else "?"


def _unnested_elements(tree: exp.Expr) -> frozenset[str]:
    """The element names of the statement's PartiQL unnests (``e.arr AS x AT i`` -> ``x``)."""
    from sqlglot import exp  # noqa: PLC0415

    return frozenset(
        join.this.this.alias
        for join in tree.find_all(exp.Join)
        if isinstance(join.this, exp.AtIndex) and isinstance(join.this.this, exp.Alias)
    )


def _map_for_postgres(node: exp.Expr, widths: set[int], elements: frozenset[str] = frozenset()) -> exp.Expr:
    from sqlglot import exp  # noqa: PLC0415

    if isinstance(node, exp.Column) and node.table and node.table in elements:
        # x.f on an unnested element: x is the element's JSON text in the lateral join (_unnest_at_index)
        element = exp.Cast(this=exp.column(node.table), to=exp.DataType.build("JSONB"))
        return exp.Anonymous(this="jsonb_extract_path_text", expressions=[element, exp.Literal.string(node.name)])

    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.SUPER:
        return exp.DataType.build("JSONB")
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.VARCHAR and node.expressions:
        width = int(node.expressions[0].this.this)
        widths.add(width)
        return exp.DataType.build(VARCHAR_DOMAIN.format(width=width), udt=True)
    if isinstance(node, exp.ParseJSON):
        return exp.Cast(this=node.this, to=exp.DataType.build("JSONB"))
    if isinstance(node, exp.GrantPrincipal) and node.args.get("kind"):
        return exp.GrantPrincipal(this=node.this)
    if isinstance(node, exp.SHA2):
        # Redshift hashes the text's UTF-8 bytes; PostgreSQL's sha256 takes bytea, never text.
        utf8 = exp.Anonymous(this="convert_to", expressions=[node.this, exp.Literal.string("UTF8")])
        bits = node.args["length"].name if node.args.get("length") is not None else "256"
        digest = exp.Anonymous(this=f"sha{bits}", expressions=[utf8])
        return exp.Anonymous(this="encode", expressions=[digest, exp.Literal.string("hex")])
    if isinstance(node, exp.Join) and isinstance(node.this, exp.AtIndex):
        return _unnest_at_index(node.this)
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
        index = node.expressions[0]
        if not (isinstance(index, exp.Literal) and not index.is_string and index.this.isdigit()):
            raise SqlError(f"SUPER navigation needs a literal index on PostgreSQL: {node.sql(dialect=REDSHIFT)}")
        return exp.Anonymous(this="jsonb_extract_path_text", expressions=[node.this, exp.Literal.string(index.this)])
    return node


def _materialized_view_as_view(tree: exp.Expr) -> None:
    """A materialized view (auto-refreshed or not) becomes a plain view: always as fresh as its tables."""
    from sqlglot import exp  # noqa: PLC0415

    if not isinstance(tree, exp.Create) or not tree.find(exp.MaterializedProperty):
        return
    for prop in list(tree.find_all(exp.MaterializedProperty, exp.BackupProperty, exp.AutoRefreshProperty)):
        prop.pop()
    properties = tree.args.get("properties")
    if isinstance(properties, exp.Properties) and not properties.expressions:
        properties.pop()


def _unnest_at_index(at: exp.AtIndex) -> exp.Expr:
    """``e.arr AS x AT i`` -> a lateral join giving ``x`` (text) and ``i`` (zero-based), as PartiQL does."""
    import sqlglot  # noqa: PLC0415
    from sqlglot import exp  # noqa: PLC0415

    alias = at.this
    if not isinstance(alias, exp.Alias) or not isinstance(alias.this, exp.Column):
        raise SqlError(f"unnesting needs `<table>.<column> AS <name> AT <index>`: {at.sql(dialect=REDSHIFT)}")
    element, position, source = alias.alias, at.expression.name, alias.this.sql(dialect=POSTGRES)
    return sqlglot.parse_one(
        "SELECT 1 FROM t CROSS JOIN LATERAL (SELECT value AS "
        f"{element}, ordinality - 1 AS {position} FROM jsonb_array_elements_text({source}) WITH ORDINALITY) "
        f"AS {element}_unnested",
        read=POSTGRES,
    ).args["joins"][0]


def render(statement: str, dialect: Dialect) -> str | None:
    """The text to run on ``dialect``: the original on Redshift, the rendering on PostgreSQL."""
    if dialect == REDSHIFT:
        return statement
    if dialect == POSTGRES:
        return render_postgres(statement).sql
    raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")


def postgres_omissions(script: str) -> list[str]:
    """Everything the PostgreSQL rendering of ``script`` leaves out, in statement order."""
    return [item for statement in split_statements(script) for item in render_postgres(statement).omissions]
