"""riskctl: the operator's tool for the risk-scoring pipeline (real AWS through boto3's default credentials).

    riskctl produce   --stream NAME [--file events.jsonl | --count N --seed S] [--rate 200] [--aggregate]
    riskctl produce   --http API_URL [--sender S --secret-env V --api-key-env V] [--file F | --count N]  # HTTPS API
    riskctl replay    --bucket B --stream NAME --from 2026-11-24T10:00Z --to 2026-11-24T12:00Z
    riskctl redrive   --dlq risk-scoring-prod-scored-dlq [--to QUEUE] [--dry-run]
    riskctl score     '{"event_id": "e1", "user_id": "u1", ...}' [--history FILE] [--scorer rules|logistic|xgboost]
    riskctl warehouse [--database risk]     # a local PostgreSQL for `make demo ARGS="--dsn ..."`
    riskctl forget    --user-id ID --env prod --bucket B --table T (--workgroup WG | --dsn DSN)
    riskctl labels load FILE (--workgroup WG | --dsn DSN)   # outcome labels, CSV or JSON Lines
    riskctl fx load FILE (--workgroup WG | --dsn DSN)       # daily FX rates, CSV or JSON Lines

``make install`` puts ``riskctl`` in ``.venv/bin``; ``python -m tools.riskctl`` is the same from the
repository root. Every AWS command takes ``--region`` and ``--endpoint-url`` (e.g. a moto server).
Mistakes end in one line on stderr (``tools.cli.errors``). Runbooks: docs/runbooks/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import boto3
import orjson

from stacks.config import ENVIRONMENT_NAMES
from tools.cli.errors import OperatorParser, guarded, input_file, positive_float, positive_int
from tools.cli.producer import MAX_RECORDS_PER_CALL, Entry, ShardMap, put_aggregated, put_batched
from tools.cli.redrive import redrive
from tools.cli.replay import archived_records

if TYPE_CHECKING:
    from risk.events.model import RiskEvent


def _client(args: argparse.Namespace, service: str) -> Any:
    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    return session.client(service, endpoint_url=args.endpoint_url) if args.endpoint_url else session.client(service)


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO time, e.g. 2026-11-24T10:00Z") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r}: give an offset (Z or +HH:MM)")
    return parsed.astimezone(UTC)


def _database_name(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError(f"{value!r}: use lower-case letters, digits and _")
    return value


def partition_key(data: bytes) -> str:
    """The user id when the record is a JSON event (keeps a user's events in order on one shard)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("user_id"), str) and doc["user_id"]:
        return str(doc["user_id"])[:256]
    return hashlib.sha256(data).hexdigest()[:32]


def send_paced(
    kinesis: Any,
    stream: str,
    records: Iterable[bytes],
    rate: float | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    out: TextIO | None = None,
    aggregate: bool = False,
) -> int:
    """Batched PutRecords at about ``rate`` records per second (None: as fast as the stream takes them).

    ``aggregate``: as the KPL does, many records per Kinesis record (``tools.cli.producer.aggregate_entries``);
    ``rate`` still counts the records, not the aggregates.
    """
    per_call = MAX_RECORDS_PER_CALL if not rate else max(1, min(MAX_RECORDS_PER_CALL, int(rate)))
    shards = ShardMap.of_stream(kinesis, stream) if aggregate else None
    started = clock()
    sent = 0
    for batch in _batches(records, per_call):
        entries = [Entry(d, partition_key(d)) for d in batch]
        if shards is not None:
            put_aggregated(kinesis, stream, entries, shards=shards, sleep=sleep)
        else:
            put_batched(kinesis, stream, entries, sleep=sleep)
        sent += len(batch)
        if rate:
            ahead = sent / rate - (clock() - started)
            if ahead > 0:
                sleep(ahead)
        if out is not None:
            out.write(f"\rsent {sent}")
            out.flush()
    if out is not None:
        out.write("\n")
    return sent


def _batches(records: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _produce_source(args: argparse.Namespace) -> Iterator[bytes]:
    if args.file:
        with Path(args.file).open("rb") as lines:
            for line in lines:
                if line.strip():
                    yield line.rstrip(b"\r\n")
        return
    from tools.generator import generate  # noqa: PLC0415

    encode: Callable[[dict[str, Any]], bytes] = orjson.dumps
    if args.format == "avro":
        from risk.events.codec import encode_avro  # noqa: PLC0415

        encode = encode_avro
    for generated in generate(args.count, seed=args.seed):
        yield encode(generated.event)


def cmd_produce(args: argparse.Namespace, out: TextIO) -> int:
    if args.http:
        return _produce_http(args, out)
    sent = send_paced(
        _client(args, "kinesis"), args.stream, _produce_source(args), args.rate, out=out, aggregate=args.aggregate
    )
    out.write(f"put {sent} records on {args.stream}\n")
    return 0


def _produce_http(args: argparse.Namespace, out: TextIO) -> int:
    """POST the events as JSON Lines batches: signed with the sender's secret (``--sender``) or SigV4 (IAM)."""
    from tools.cli.http_producer import HttpRefusedError, post_batches  # noqa: PLC0415

    secret = None
    if args.sender:
        secret = os.environ.get(args.secret_env)
        if not secret:
            out.write(f"error: --sender needs the sender's secret in the environment variable {args.secret_env}\n")
            return 2
    session = None if args.sender else boto3.session.Session(region_name=args.region)
    try:
        sent, requests = post_batches(
            args.http,
            _produce_source(args),
            sender=args.sender,
            secret=secret,
            api_key=os.environ.get(args.api_key_env) if args.sender else None,
            session=session,
            batch=args.batch,
        )
    except HttpRefusedError as exc:
        out.write(f"error: {exc}\n")
        return 1
    out.write(f"posted {sent} events in {requests} requests to {args.http}\n")
    return 0


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    records = archived_records(_client(args, "s3"), args.bucket, args.start, args.end)
    if args.dry_run:
        count = sum(1 for _ in records)
        out.write(
            f"dry run: {count} records arrived in [{args.start:%Y-%m-%dT%H:%M}Z, {args.end:%Y-%m-%dT%H:%M}Z)"
            f" under s3://{args.bucket}/raw/; nothing sent\n"
        )
        return 0
    sent = send_paced(_client(args, "kinesis"), args.stream, (r.data for r in records), args.rate)
    out.write(f"replayed {sent} records onto {args.stream}; the load is idempotent (MERGE by event_id)\n")
    return 0


def cmd_redrive(args: argparse.Namespace, out: TextIO) -> int:
    result = redrive(_client(args, "sqs"), args.dlq, args.to, dry_run=args.dry_run, max_per_second=args.rate)
    if result.method == "dry-run":
        out.write(
            f"dry run: {result.messages} messages would move from {result.source_url} to {result.destination_url}\n"
        )
        for sample in result.samples:
            out.write(f"  {sample}\n")
    elif result.method == "move-task":
        out.write(
            f"started a message move task ({result.task_handle}) for ~{result.messages} messages "
            f"to {result.destination_url}; watch it with: aws sqs list-message-move-tasks "
            f"--source-arn <dlq arn>\n"
        )
    else:
        out.write(f"moved {result.messages} messages to {result.destination_url} (receive and re-send)\n")
    return 0


def score_event(raw: bytes, history: Sequence[bytes], scorer_name: str | None, env_name: str) -> dict[str, Any]:
    """Parse, build features (from ``history`` of the same user, oldest first) and score one event."""
    import risk.common.settings as s  # noqa: PLC0415
    from risk.score.scorers import load_scorer  # noqa: PLC0415
    from risk.score.state import UserState  # noqa: PLC0415
    from stacks.config import load_environment, runtime_environment  # noqa: PLC0415

    event = parse_one(raw)
    state = UserState(event.user_id)
    for past in history:
        previous = parse_one(past)
        if previous.user_id == event.user_id:
            state.apply(previous)
    features, duplicate = state.apply(event)
    env = runtime_environment(
        load_environment(env_name), "score", {s.SCORED_QUEUE_URL: "-", s.STATE_TABLE: "-", s.ARCHIVE_BUCKET: "-"}
    )
    if scorer_name and scorer_name != env.get(s.SCORER):
        env[s.SCORER] = scorer_name
        env.pop(s.MODEL_FILE, None)  # that kind's bundled model, not the configured champion's file
    score = load_scorer(env).score(event, features)
    return {
        "event": event.to_dict(),
        "duplicate_in_history": duplicate,
        "features": features.to_dict(),
        "score": score.to_dict(),
    }


class ParseRejectedError(ValueError):
    """The parser quarantines this record; the message carries the reason code."""


def parse_one(raw: bytes) -> RiskEvent:
    """Through the parse stage's own parser, so what it accepts here is what the pipeline accepts."""
    from risk.parse.parser import Quarantined, parse_record  # noqa: PLC0415

    result = parse_record(raw, sequence_number="0", arrival=datetime.now(UTC))
    if isinstance(result, Quarantined):
        raise ParseRejectedError(f"quarantined: {result.reason.value}: {result.detail}")
    return result


def cmd_score(args: argparse.Namespace, out: TextIO) -> int:
    raw = sys.stdin.buffer.read().strip() if args.event == "-" else args.event.encode()
    history = [line for line in Path(args.history).read_bytes().splitlines() if line.strip()] if args.history else []
    try:
        result = score_event(raw, history, args.scorer, args.env)
    except ParseRejectedError as exc:
        out.write(f"{exc}\n")
        return 2
    out.write(json.dumps(result, indent=2, default=str) + "\n")
    return 0


def cmd_warehouse(args: argparse.Namespace, out: TextIO) -> int:
    from tools.cli.warehouse import serve  # noqa: PLC0415

    return serve(args.database, out)


def cmd_forget(args: argparse.Namespace, out: TextIO) -> int:
    from risk.warehouse.connection import connect_dsn, connect_serverless  # noqa: PLC0415
    from stacks.config import load_environment  # noqa: PLC0415
    from tools.cli.forget import forget  # noqa: PLC0415

    archive = load_environment(args.env).archive
    operator = str(_client(args, "sts").get_caller_identity()["Arn"])
    warehouse = connect_dsn(args.dsn) if args.dsn else connect_serverless(args.workgroup, args.database)
    with warehouse:
        report = forget(
            args.user_id,
            dynamodb=_client(args, "dynamodb"),
            table=args.table,
            s3=_client(args, "s3"),
            bucket=args.bucket,
            warehouse=warehouse,
            archive=archive,
            operator=operator,
        )
    out.write(
        f"erased user sha256:{report.user_sha256[:16]}: {report.state_items_deleted} state items, "
        f"{report.warehouse_rows_deleted} warehouse rows, {report.enriched_rows_removed} enriched rows "
        f"({len(report.enriched_objects_rewritten)} objects rewritten, {len(report.enriched_objects_deleted)} "
        f"deleted, {report.enriched_old_versions_deleted} old versions deleted)\n"
    )
    for kept in report.retained:
        out.write(f"  stays until {kept.until}: s3://{args.bucket}/{kept.key} ({kept.why})\n")
    out.write(f"audit entry: s3://{args.bucket}/{report.audit_key}\n")
    return 0


def _connect_warehouse(args: argparse.Namespace) -> Any:
    from risk.warehouse.connection import connect_dsn, connect_serverless  # noqa: PLC0415

    return connect_dsn(args.dsn) if args.dsn else connect_serverless(args.workgroup, args.database)


def cmd_labels_load(args: argparse.Namespace, out: TextIO) -> int:
    from risk.warehouse.labels import LabelError, load_labels, parse_label  # noqa: PLC0415
    from tools.cli.errors import OperatorError  # noqa: PLC0415
    from tools.cli.table_files import read_rows  # noqa: PLC0415

    labels = read_rows(args.file, parse_label, "labels")  # every line checked before the warehouse is asked
    with _connect_warehouse(args) as warehouse:
        try:
            result = load_labels(warehouse, labels)
        except LabelError as exc:
            raise OperatorError(f"{args.file}: {exc}; nothing was loaded") from None
    out.write(
        f"labels: {result.given} in {args.file}; {result.inserted} loaded ({result.replaced} replacing older "
        f"reports), {result.unchanged} already loaded or older than what is\n"
    )
    return 0


def cmd_fx_load(args: argparse.Namespace, out: TextIO) -> int:
    from risk.warehouse.fx import FxError, load_rates, parse_rate  # noqa: PLC0415
    from tools.cli.errors import OperatorError  # noqa: PLC0415
    from tools.cli.table_files import read_rows  # noqa: PLC0415

    rates = read_rows(args.file, parse_rate, "rates")
    with _connect_warehouse(args) as warehouse:
        try:
            result = load_rates(warehouse, rates)
        except FxError as exc:
            raise OperatorError(f"{args.file}: {exc}; nothing was loaded") from None
    out.write(
        f"fx: {result.given} rates in {args.file}; {result.inserted} loaded ({result.replaced} correcting a "
        f"loaded rate), {result.unchanged} already loaded\n"
    )
    return 0


def _warehouse_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--workgroup", help="Redshift Serverless workgroup (sign-in with your IAM identity)")
    where.add_argument("--dsn", help="a PostgreSQL DSN (the local warehouse)")
    parser.add_argument(
        "--database", type=_database_name, default="risk", help="with --workgroup (default %(default)s)"
    )


def build_parser() -> argparse.ArgumentParser:
    p = OperatorParser(prog="riskctl", description="Operate the risk-scoring pipeline.")
    p.add_argument("--region", help="AWS region (default: your AWS configuration)")
    p.add_argument("--endpoint-url", help="a different AWS endpoint, e.g. a moto server")
    sub = p.add_subparsers(dest="command", required=True)

    produce = sub.add_parser("produce", help="put events on a stream (from a file or generated)")
    way = produce.add_mutually_exclusive_group(required=True)
    way.add_argument("--stream", help="PutRecords on this stream")
    way.add_argument("--http", metavar="API_URL", help="the HTTPS API's stage URL: POST /events (IAM, SigV4) or ...")
    produce.add_argument("--sender", help="... POST /webhooks/SENDER, signed with the sender's secret (HMAC-SHA256)")
    produce.add_argument(
        "--secret-env", default="RISK_WEBHOOK_SECRET", help="variable holding the sender's secret (default %(default)s)"
    )
    produce.add_argument(
        "--api-key-env",
        default="RISK_WEBHOOK_API_KEY",
        help="variable holding the sender's API key, sent as x-api-key (default %(default)s)",
    )
    produce.add_argument("--batch", type=positive_int, default=100, help="--http: events per request (JSON Lines)")
    produce.add_argument("--file", type=input_file, help="JSON Lines; each line is sent byte for byte")
    produce.add_argument("--count", type=positive_int, default=1000)
    produce.add_argument("--seed", type=int, default=7)
    produce.add_argument("--format", choices=("json", "avro"), default="json")
    produce.add_argument("--rate", type=positive_float, help="records per second (default: as fast as possible)")
    produce.add_argument(
        "--aggregate", action="store_true", help="KPL record aggregation: many records per Kinesis record, per shard"
    )
    produce.set_defaults(func=cmd_produce)

    replay = sub.add_parser("replay", help="put archived raw records of a time range back onto the stream")
    replay.add_argument("--bucket", required=True, help="the archive bucket")
    replay.add_argument("--stream", required=True)
    replay.add_argument("--from", dest="start", type=_time, required=True, help="ISO time with offset, inclusive")
    replay.add_argument("--to", dest="end", type=_time, required=True, help="ISO time with offset, exclusive")
    replay.add_argument("--rate", type=positive_float, help="records per second")
    replay.add_argument("--dry-run", action="store_true", help="count what would be replayed")
    replay.set_defaults(func=cmd_replay)

    rd = sub.add_parser("redrive", help="move a DLQ's messages back to their source queue")
    rd.add_argument("--dlq", required=True, help="DLQ name or URL")
    rd.add_argument("--to", help="destination queue (default: the queue whose redrive policy names the DLQ)")
    rd.add_argument("--rate", type=positive_int, help="max messages per second for the move task")
    rd.add_argument("--dry-run", action="store_true", help="show what would move; move nothing")
    rd.set_defaults(func=cmd_redrive)

    score = sub.add_parser("score", help="score one event JSON locally (no AWS): features, score, reasons")
    score.add_argument("event", help="the event JSON, or - to read it from stdin")
    score.add_argument("--history", type=input_file, help="JSON Lines of the user's earlier events, oldest first")
    score.add_argument(
        "--scorer", choices=("rules", "logistic", "xgboost"), help="override the configured scorer (champion)"
    )
    score.add_argument(
        "--env", choices=ENVIRONMENT_NAMES, default="dev", help="config environment: thresholds, model (default dev)"
    )
    score.set_defaults(func=cmd_score)

    wh = sub.add_parser("warehouse", help="run a local PostgreSQL for `make demo --dsn` until Ctrl-C (no AWS)")
    wh.add_argument(
        "--database", type=_database_name, default="risk", help="the database to create (default %(default)s)"
    )
    wh.set_defaults(func=cmd_warehouse)

    fg = sub.add_parser("forget", help="erase one user: state, warehouse rows, enriched/; report what raw/ keeps")
    fg.add_argument("--user-id", required=True, help="the exact user id")
    fg.add_argument("--env", choices=ENVIRONMENT_NAMES, required=True, help="config environment: archive expiry days")
    fg.add_argument("--bucket", required=True, help="the archive bucket")
    fg.add_argument("--table", required=True, help="the user-state DynamoDB table")
    where = fg.add_mutually_exclusive_group(required=True)
    where.add_argument("--workgroup", help="Redshift Serverless workgroup (sign-in with your IAM identity)")
    where.add_argument("--dsn", help="a PostgreSQL DSN (the local warehouse)")
    fg.add_argument("--database", type=_database_name, default="risk", help="with --workgroup (default %(default)s)")
    fg.set_defaults(func=cmd_forget)

    labels = sub.add_parser("labels", help="outcome labels (fraud or legit) in the warehouse")
    labels_sub = labels.add_subparsers(dest="labels_command", required=True)
    ll = labels_sub.add_parser("load", help="load labels from CSV or JSON Lines (idempotent; newer reports replace)")
    ll.add_argument(
        "file", type=input_file, help="labels.csv, or JSON Lines: event_id/user_id, label, source, reported_at"
    )
    _warehouse_arguments(ll)
    ll.set_defaults(func=cmd_labels_load)

    fx = sub.add_parser("fx", help="daily FX rates into the reporting currency, in the warehouse")
    fx_sub = fx.add_subparsers(dest="fx_command", required=True)
    fl = fx_sub.add_parser("load", help="load rates from CSV or JSON Lines (idempotent; a changed rate replaces)")
    fl.add_argument(
        "file", type=input_file, help="rates.csv, or JSON Lines: rate_date, currency, reporting_currency, rate"
    )
    _warehouse_arguments(fl)
    fl.set_defaults(func=cmd_fx_load)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """The console script ``riskctl``: parse (a wrong value stops here), then run the command, guarded."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "start", None) and args.end <= args.start:
        parser.error("--to must be after --from")
    return guarded("riskctl", lambda: int(args.func(args, out or sys.stdout)))


if __name__ == "__main__":
    sys.exit(main())
