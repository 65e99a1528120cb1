"""``make demo``: the whole pipeline on this machine, then a reconciliation of every record.

    python -m tools.local.demo [--count N] [--seed N] [--format json|avro] [--events FILE]
                               [--unusual N] [--summary-json FILE] [--export FILE] [--dsn DSN] [--env dev]

AWS is moto, in process; the warehouse is an embedded throwaway PostgreSQL (or ``--dsn``, e.g. from
``riskctl warehouse``). Exits 0 when every record sent is accounted for (loaded, quarantined, in a
DLQ or a suppressed duplicate), 1 otherwise. Every input and output (the events file, the output
files' folders, the DSN) is checked before any work starts; a mistake is one line on stderr and
exit 1 or 2 (``tools.cli.errors``). See docs/local-run.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import orjson

from risk.warehouse.columns import COLUMN_NAMES, RISK_EVENTS_TABLE
from risk.warehouse.connection import Warehouse, connect_dsn
from risk.warehouse.migrations import default_directory, migrate
from stacks.config import ENVIRONMENT_NAMES, EnvironmentConfig, load_environment
from tools.cli.errors import OperatorError, OperatorParser, guarded, input_file, output_file, positive_int
from tools.local.alarms import QUIET_MINUTES
from tools.local.drills import DRILLS, demo_drill
from tools.local.entry import PATHS, EventBusPath, InboxPath, WebhookPath
from tools.local.malformed import malformed_records
from tools.local.pipeline import HandlerLog, LocalPipeline
from tools.local.provision import DEFAULT_SHARDS, provision
from tools.local.reconcile import Reconciliation, reconcile
from tools.local.unusual import unusual_records

DEFAULT_COUNT = 3000
MALFORMED_SHARE = 0.02
DUPLICATE_SHARE = 0.01


@dataclass(frozen=True)
class Outgoing:
    """One record to put on the stream."""

    data: bytes
    partition_key: str
    event_id: str | None
    expected_reason: str | None = None


def encoder(fmt: str) -> Any:
    if fmt == "json":
        return orjson.dumps
    from risk.events.codec import encode_avro  # noqa: PLC0415 (only needed for Avro)

    return encode_avro


def generated_records(count: int, seed: int, fmt: str) -> list[Outgoing]:
    """Generated events (fraud patterns included), ~2% malformed records of every kind, ~1% re-sent."""
    from tools.generator import generate  # noqa: PLC0415

    encode = encoder(fmt)
    valid = [
        Outgoing(encode(g.event), str(g.event["user_id"]), str(g.event["event_id"])) for g in generate(count, seed=seed)
    ]
    rng = random.Random(seed)
    malformed = [
        Outgoing(m.data, f"malformed-{i}", None, str(m.reason))
        for i, m in enumerate(malformed_records(max(16, round(count * MALFORMED_SHARE)), seed=seed))
    ]
    out = list(valid)
    for m in malformed:  # malformed records land anywhere in the traffic
        out.insert(rng.randrange(len(out) + 1), m)
    for _ in range(round(count * DUPLICATE_SHARE)):  # a producer retry: the same bytes again, a little later
        at = rng.randrange(len(out))
        while out[at].event_id is None:
            at = rng.randrange(len(out))
        out.insert(min(len(out), at + rng.randrange(1, 200)), out[at])
    return out


# Issue 11's heavy-user mix: 10 users at ~400 events a day and 100 at ~30, over two days.
HEAVY_MIX = ((10, 400), (100, 30))
HEAVY_MIX_DAYS = 2


def heavy_mix_records(seed: int, fmt: str) -> list[Outgoing]:
    """``--mix heavy``: the mix the state's unit budget is set on (no malformed records, no re-sends)."""
    from tools.generator import DAY_S, generate  # noqa: PLC0415

    encode = encoder(fmt)
    out: list[tuple[float, Outgoing]] = []
    for group, (users, per_day) in enumerate(HEAVY_MIX):
        count = users * per_day * HEAVY_MIX_DAYS
        for g in generate(count, seed=seed + group, users=users, duration_s=HEAVY_MIX_DAYS * DAY_S, fraud_rate=0.0):
            event = {**g.event, "user_id": f"g{group}-{g.event['user_id']}"}  # the two groups' users apart
            out.append((g.ts, Outgoing(encode(event), str(event["user_id"]), str(event["event_id"]))))
    out.sort(key=lambda pair: pair[0])
    return [o for _, o in out]


def with_unusual(records: Sequence[Outgoing], count: int, seed: int) -> list[Outgoing]:
    """``--unusual N``: N contract-valid-but-unusual records (``tools.local.unusual``) anywhere in the
    traffic, each labelled with its outcome (loaded, or quarantined with the reason its kind names)."""
    rng = random.Random(seed + 1)
    out = list(records)
    for u in unusual_records(count, seed=seed):
        expected = None if u.expected is None else str(u.expected)
        out.insert(rng.randrange(len(out) + 1), Outgoing(u.data, u.user_id, u.event_id, expected))
    return out


def file_records(path: Path, fmt: str) -> list[Outgoing]:
    """``--events``: JSON Lines; with json each line goes on the stream byte for byte."""
    encode = encoder(fmt)
    out = []
    for n, line in enumerate(path.read_bytes().splitlines()):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            doc = None
        event_id = doc.get("event_id") if isinstance(doc, dict) else None
        user_id = doc.get("user_id") if isinstance(doc, dict) else None
        key = str(user_id) if isinstance(user_id, str) and user_id else f"line-{n}"
        data = line if fmt == "json" or not isinstance(doc, dict) else _encode_or_raw(encode, doc, line)
        out.append(Outgoing(data, key, event_id.strip() if isinstance(event_id, str) else None))
    return out


def _encode_or_raw(encode: Any, doc: dict[str, Any], line: bytes) -> bytes:
    """A line Avro cannot encode (a wrong type, a missing field) goes as its JSON text: it is malformed."""
    try:
        return bytes(encode(doc))
    except Exception:
        return line


class Progress:
    """A single updating line on a terminal, a line every few seconds otherwise."""

    def __init__(self, out: TextIO, total: int, interval_s: float = 2.0) -> None:
        self.out, self.total, self.interval_s = out, total, interval_s
        self.tty = out.isatty()
        self.started = time.monotonic()
        self.last = 0.0

    def line(self, pipeline: LocalPipeline) -> str:
        m = pipeline.metrics.totals
        return (
            f"[{time.monotonic() - self.started:6.1f}s] sent {len(pipeline.sent)}/{self.total}"
            f" | read {pipeline.parse.stats.records_read} | parsed {int(m['EventsParsed'])}"
            f" | quarantined {int(m['EventsQuarantined'])} | scored {int(m['EventsScored'])}"
            f" | loaded {int(m['EventsLoaded'])} | dup {int(m['DuplicatesSuppressed'])}"
            f" | retries {pipeline.score.stats.failed + pipeline.load.stats.failed}"
        )

    def __call__(self, pipeline: LocalPipeline, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.2 if self.tty else self.interval_s):
            return
        self.last = now
        if self.tty:
            self.out.write("\r" + self.line(pipeline).ljust(118))
        else:
            self.out.write(self.line(pipeline) + "\n")
        self.out.flush()

    def done(self, pipeline: LocalPipeline) -> None:
        self(pipeline, force=True)
        if self.tty:
            self.out.write("\n")


def run(
    pipeline: LocalPipeline,
    records: Sequence[Outgoing],
    progress: Progress | None,
    piece: int = 2000,
    *,
    aggregate: bool = False,
    via: InboxPath | EventBusPath | WebhookPath | None = None,
) -> None:
    """Put the records a piece at a time (``via``: another way in, e.g. a file each through the file
    ingest), letting the consumers work in between, then drain."""
    for start in range(0, len(records), piece):
        part = records[start : start + piece]
        if via is not None:
            via.put(part)
        else:
            pipeline.put(
                [r.data for r in part],
                [r.partition_key for r in part],
                [r.event_id for r in part],
                [r.expected_reason for r in part],
                aggregate=aggregate,
            )
        pipeline.step()
        if progress is not None:
            progress(pipeline)
    pipeline.drain(progress)
    if progress is not None:
        progress.done(pipeline)


@contextmanager
def warehouse_dsn(cfg: EnvironmentConfig, dsn: str | None, workdir: Path) -> Iterator[tuple[str, bool]]:
    """(DSN, embedded): the given server, or an embedded throwaway one with an empty database."""
    if dsn:
        yield dsn, False
        return
    from tools.pg.local import LocalPostgres  # noqa: PLC0415 (not needed with --dsn)

    (workdir / "pg").mkdir()
    with LocalPostgres.start(workdir / "pg") as server:
        yield server.create_database(cfg.redshift.database), True


def export_rows(warehouse: Warehouse, path: Path) -> int:
    """risk_events as JSON Lines, one object per row, the column names as keys."""
    columns = ", ".join(COLUMN_NAMES)
    with warehouse.transaction():
        rows = warehouse.fetchall(f"SELECT {columns} FROM {RISK_EVENTS_TABLE} ORDER BY occurred_at, event_id")
    with path.open("wb") as out:
        for row in rows:
            out.write(orjson.dumps({name: _plain(v) for name, v in zip(COLUMN_NAMES, row, strict=True)}) + b"\n")
    return len(rows)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def report(rec: Reconciliation, out: TextIO) -> None:
    w = out.write
    w("\n== reconciliation\n")
    w(f"  sent                  {rec.sent}\n")
    w(f"  loaded                {rec.loaded}\n")
    w(f"  quarantined           {rec.quarantined_total}\n")
    w(f"  in a DLQ (not loaded) {rec.dlq_not_loaded}\n")
    w(f"  duplicates suppressed {rec.duplicates_suppressed}\n")
    if rec.unidentified:
        w(f"  unidentified          {rec.unidentified}\n")
    verdict = "balanced" if rec.balanced else "DOES NOT BALANCE"
    w(f"  sent = loaded + quarantined + dlq + duplicates: {verdict}\n")
    if rec.missing:
        w(f"  MISSING (delivered, neither loaded nor in a DLQ): {len(rec.missing)}, e.g. {rec.missing[:5]}\n")
    if rec.unexpected_rows:
        w(f"  UNEXPECTED rows (never sent): {len(rec.unexpected_rows)}, e.g. {rec.unexpected_rows[:5]}\n")
    if rec.unexpected_quarantine:
        w(f"  UNEXPECTED quarantine lines (match no record sent): {rec.unexpected_quarantine}\n")
    if rec.reason_mismatches:
        w(
            f"  QUARANTINE REASON differs from the one generated: {len(rec.reason_mismatches)},"
            f" e.g. {rec.reason_mismatches[:5]}\n"
        )
    w(f"  enriched copies in S3 {rec.enriched_events}\n")
    w("\n== quarantine by reason\n")
    for reason, n in sorted(rec.quarantined.items(), key=lambda kv: (-kv[1], kv[0])):
        w(f"  {reason:28} {n}\n")
    w("\n== dead-letter queues\n")
    for queue, n in sorted(rec.dlq.items()):
        w(f"  {queue:28} {n}\n")
        for sample in rec.dlq_samples.get(queue, []):
            w(f"      {sample}\n")
    w("\n== score distribution\n")
    for band in ("low", "medium", "high"):
        w(f"  {band:8} {rec.score_bands.get(band, 0)}\n")
    peak = max(rec.score_histogram or [1]) or 1
    for i, n in enumerate(rec.score_histogram):
        bar = "#" * max(1 if n else 0, round(40 * n / peak))
        w(f"  [{i / 10:.1f}, {(i + 1) / 10:.1f}{']' if i == 9 else ')'} {n:7} {bar}\n")
    w("\n== top flagged events (from the warehouse)\n")
    for e in rec.top_flagged:
        amount = "" if e["amount"] is None else f"{e['amount']:.2f} {e['currency'] or ''}"
        w(f"  {e['score']:.3f} {e['risk_band']:6} {e['event_id']} user={e['user_id']} {e['event_type']} {amount}\n")
        w(f"        reasons: {_reasons_line(e['reason_codes'], e.get('reason_contributions'))}\n")
    w(f"\n{'OK: every record is accounted for' if rec.ok else 'FAILED: see above'}\n")


def _reasons_line(codes: Sequence[str], contributions: Sequence[float | None] | None) -> str:
    """``CODE +1.23`` per reason, its stored contribution beside it when it has one."""
    if contributions is None:
        return ", ".join(codes) or "-"
    return ", ".join(code if c is None else f"{code} {c:+.2f}" for code, c in zip(codes, contributions, strict=True))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = OperatorParser(prog="make demo", description=__doc__.split("\n\n")[0])
    p.help_hint = 'make demo ARGS="--help"'
    p.add_argument("--count", type=positive_int, default=DEFAULT_COUNT, help="generated events (default %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default %(default)s)")
    p.add_argument("--format", choices=("json", "avro"), default="json", help="wire format (default json)")
    p.add_argument("--events", type=input_file, help="JSON Lines file of events to send instead of generated ones")
    p.add_argument(
        "--aggregate", action="store_true", help="send KPL-aggregated records (many events per Kinesis record)"
    )
    p.add_argument(
        "--via",
        choices=PATHS,
        default="kinesis",
        help="the way in: kinesis (PutRecords), s3 (gzip JSON Lines files in the inbox, the file ingest function) "
        "or eventbridge (PutEvents on the bus, the rule's transformation) "
        "or http (signed webhook requests, the webhook function)",
    )
    p.add_argument(
        "--mix",
        choices=("default", "heavy"),
        default="default",
        help="heavy: 10 users at ~400 events a day and 100 at ~30, over two days, instead of --count",
    )
    p.add_argument(
        "--unusual", type=int, default=0, help="also send N contract-valid but unusual events (tools/local/unusual.py)"
    )
    p.add_argument("--summary-json", type=output_file, help="write the reconciliation as JSON here")
    p.add_argument("--export", type=output_file, help="write the loaded risk_events rows as JSON Lines here")
    p.add_argument("--dsn", help="postgresql://user:password@host:port/db of an existing warehouse stand-in")
    p.add_argument("--env", choices=ENVIRONMENT_NAMES, default="dev", help="config environment (default dev)")
    p.add_argument(
        "--shards", type=positive_int, default=DEFAULT_SHARDS, help="local stream shards (default %(default)s)"
    )
    p.add_argument("--log", type=output_file, help="write the handlers' log lines here (default: kept in memory)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument(
        "--alarms",
        action="store_true",
        help="evaluate the environment's alarms against the run's metrics and print which would have fired",
    )
    p.add_argument(
        "--metrics-out", type=output_file, help="write the run's per-minute metrics here (python -m tools.local.alarms)"
    )
    p.add_argument(
        "--drill",
        choices=tuple(DRILLS),
        help="run that failure drill instead (tools/local/drills.py) and print which alarms would have fired",
    )
    p.add_argument(
        "--delivery-seed",
        type=int,
        help="vary SQS delivery reproducibly: batch sizes, order (FIFO: groups interleaved), 5%% redelivered",
    )
    args = p.parse_args(argv)
    if args.unusual < 0:
        p.error("--unusual must not be negative")
    if args.via != "kinesis" and (args.aggregate or args.format != "json"):
        p.error(f"--via {args.via} sends JSON documents: leave out --aggregate and --format avro")
    return args


def check_dsn(dsn: str) -> None:
    """Fail before any work when ``--dsn`` is malformed or nobody answers there (password not echoed)."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    import redshift_connector  # noqa: PLC0415

    try:
        parts = urlsplit(dsn)
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        with connect_dsn(dsn):
            pass
    except ValueError:
        raise OperatorError(
            "--dsn: not a postgresql://user:password@host:port/db URL; `riskctl warehouse` prints one", 2
        ) from None
    except redshift_connector.Error as exc:
        raise OperatorError(
            f"--dsn: cannot connect to {where} ({exc}): start a local warehouse with `riskctl warehouse` "
            "and pass the DSN it prints, or drop --dsn for an embedded one"
        ) from None


def alarms_report(cfg: EnvironmentConfig, pipeline: LocalPipeline, args: argparse.Namespace, out: TextIO) -> None:
    """The alarms the stacks synthesize, over this run's metrics (a few idle minutes appended, as after a run)."""
    from tools.local import alarms  # noqa: PLC0415 - synthesizes with the CDK: only when asked

    for _ in range(QUIET_MINUTES):
        pipeline.step()
    series, minutes = pipeline.metrics.series, pipeline.metrics.minute
    if args.metrics_out:
        alarms.dump_series(series, minutes, args.metrics_out)
        out.write(f"metrics by minute written to {args.metrics_out}\n")
    if args.alarms:
        out.write("\n== alarms\n")
        alarms.report(alarms.evaluate_all(cfg, series, minutes), minutes, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = parse_args(argv)
    return guarded("make demo", lambda: demo(args, out or sys.stdout))


def demo(args: argparse.Namespace, out: TextIO) -> int:
    """The run itself, once the arguments are known to be good."""
    if args.drill:
        return demo_drill(args.drill, load_environment(args.env), args.dsn, out)
    if args.dsn:
        check_dsn(args.dsn)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto needs some; never real ones
        os.environ[name] = "testing"
    os.environ.pop("AWS_PROFILE", None)
    from moto import mock_aws  # noqa: PLC0415 (a test/dev dependency, not a runtime one)

    cfg = load_environment(args.env)
    started = time.monotonic()
    if args.events:
        records = file_records(args.events, args.format)
    elif args.mix == "heavy":
        records = heavy_mix_records(args.seed, args.format)
    else:
        records = generated_records(args.count, args.seed, args.format)
    if args.unusual:
        records = with_unusual(records, args.unusual, args.seed)
    out.write(
        f"make demo: env={cfg.name}{'' if args.via == 'kinesis' else ' via=' + args.via} format={args.format}"
        f"{' (KPL-aggregated)' if args.aggregate else ''} "
        f"records={len(records)} "
        f"({'file ' + str(args.events) if args.events else f'generated, seed {args.seed}'})\n"
    )
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="risk-demo-")))
        dsn, embedded = stack.enter_context(warehouse_dsn(cfg, args.dsn, workdir))
        warehouse = stack.enter_context(connect_dsn(dsn))
        applied = migrate(warehouse, default_directory())
        with warehouse.transaction():
            before = int(warehouse.scalar(f"SELECT COUNT(*) FROM {RISK_EVENTS_TABLE}"))
        fresh = before == 0  # rows nobody sent are an error only in a warehouse that started empty
        out.write(
            f"warehouse: {'embedded PostgreSQL' if embedded else 'given DSN'} ({before} rows before), "
            f"migrations applied now: {applied}\n"
        )
        stack.enter_context(mock_aws())
        resources = provision(cfg, args.shards)
        out.write(
            f"provisioned (moto): stream {resources.stream_name} ({args.shards} shards), "
            f"queues {', '.join(sorted(resources.queue_urls))}, bucket {resources.bucket} (SSE-KMS)\n"
        )
        log = stack.enter_context(args.log.open("w")) if args.log else None
        pipeline = LocalPipeline(resources, dsn, log=log, delivery_seed=args.delivery_seed)
        via = {"s3": InboxPath, "eventbridge": EventBusPath, "http": WebhookPath}.get(args.via)
        path = via(pipeline) if via else None
        run(
            pipeline,
            records,
            None if args.quiet else Progress(out, len(records)),
            aggregate=args.aggregate,
            via=path,
        )
        if isinstance(path, InboxPath):
            out.write(
                f"via s3: {path.files} files through the file ingest, {len(path.reports)} in inbox/done/; "
                f"{path.left_out} records that cannot be a line of a file left out\n"
            )
        elif isinstance(path, WebhookPath):
            refused = ", ".join(f"{k} {v}" for k, v in sorted(path.refused.items())) or "none"
            out.write(
                f"via http: {path.requests} signed webhook requests through the webhook function; "
                f"refused with 400/413 (never on the stream): {refused}\n"
            )
        elif isinstance(path, EventBusPath):
            out.write(
                f"via eventbridge: {path.events} events through the bus's rule; "
                f"{path.left_out} records that are not a JSON object (cannot be an event's detail) left out\n"
            )
        rec = reconcile(pipeline, warehouse, fresh_warehouse=fresh)
        report(rec, out)
        if not args.events and args.mix != "heavy":  # generated events: their labels are known
            from tools.local.labels import outcomes_report, sample_labels  # noqa: PLC0415

            outcomes_report(warehouse, sample_labels(args.count, args.seed), out)
        if not rec.ok and isinstance(pipeline.log, HandlerLog) and pipeline.log.lines:
            out.write("\n== last handler log lines (all of them: --log FILE)\n")
            out.writelines(f"  {line}\n" for line in list(pipeline.log.lines)[-30:])
        if args.alarms or args.metrics_out:
            alarms_report(cfg, pipeline, args, out)
        if args.summary_json:
            reads, writes = pipeline.state_units()
            summary = rec.summary() | {
                "elapsed_s": round(time.monotonic() - started, 1),
                "format": args.format,
                "via": args.via,
                "delivery_seed": args.delivery_seed,
                "redelivered_messages": pipeline.score.stats.redelivered + pipeline.load.stats.redelivered,
                # DynamoDB units the score stage's state billed over the run (risk.score.units)
                "state_read_units": reads,
                "state_write_units": writes,
            }
            if isinstance(path, WebhookPath):
                summary["refused"] = dict(sorted(path.refused.items()))  # by reason: never on the stream
            args.summary_json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        if args.export:
            n = export_rows(warehouse, args.export)
            out.write(f"exported {n} rows to {args.export}\n")
    out.write(f"done in {time.monotonic() - started:.1f}s\n")
    return 0 if rec.ok else 1


if __name__ == "__main__":
    sys.exit(main())
