"""Records of one inbox file, each with the position just after it, read as a stream from any position.

Two formats, told by their bytes (never by the name): **Avro object container files** (``Obj\\x01``)
and **JSON Lines** (anything else; empty lines are skipped). Either may be gzip-compressed
(``1F 8B``), and the compression is taken off as the bytes stream in, so a 1 GB file never sits in
memory.

A :class:`Position` is where to start again: for JSON Lines the byte offset (in the uncompressed
text) after the last line handled, for Avro the number of records handled. Resuming a plain JSON
Lines file asks S3 for that byte range only; a gzip file or an Avro file is read from its start and
the handled part skipped without sending anything again (gzip cannot be entered mid-stream; Avro's
blocks are skipped whole where possible).

Each Avro record goes on the stream in the contract's single-object encoding of the file's own
schema, which must be a registered one (``risk.events.avro``), so the parse stage reads it as it
reads any Avro record; a file whose schema is not registered, or whose codec is not one of
:data:`AVRO_CODECS`, is refused whole.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from risk.events import avro

GZIP_MAGIC = b"\x1f\x8b"
AVRO_MAGIC = b"Obj\x01"
_CHUNK = 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024  # far above any event (64 KiB): a file without newlines is not JSON Lines
# Avro container codecs fastavro reads with the standard library. snappy, zstandard and lz4 need native
# libraries the functions' layer does not ship: such a file is refused whole, saying which codecs to use.
AVRO_CODECS = ("null", "deflate", "bzip2", "xz")


class UnreadableFileError(ValueError):
    """The file as a whole cannot be read (bad gzip, a broken Avro container, an unknown schema)."""


@dataclass(frozen=True, slots=True)
class Position:
    offset: int = 0  # JSON Lines: bytes of uncompressed text handled
    index: int = 0  # records (lines or Avro records) handled, empty lines not counted

    def to_dict(self) -> dict[str, int]:
        return {"offset": self.offset, "index": self.index}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Position:
        return cls(int(doc.get("offset", 0)), int(doc.get("index", 0)))


@dataclass(frozen=True, slots=True)
class FileRecord:
    data: bytes  # what goes on the stream (a JSON line as it is, an Avro record single-object encoded)
    index: int  # 0-based record number in the file
    after: Position  # where to resume once this record is handled


@dataclass(frozen=True, slots=True)
class FileFormat:
    gzip: bool
    avro: bool

    @property
    def name(self) -> str:
        return ("avro" if self.avro else "jsonl") + ("+gzip" if self.gzip else "")


def sniff(head: bytes) -> FileFormat:
    """The format of a file from its first bytes (the uncompressed ones when it is gzip)."""
    if head[:2] == GZIP_MAGIC:
        try:
            inner = gzip.GzipFile(fileobj=io.BytesIO(head)).read(len(AVRO_MAGIC))
        except (OSError, EOFError):
            inner = b""  # a truncated head of a large file: the magic is in the first block
        return FileFormat(gzip=True, avro=inner[: len(AVRO_MAGIC)] == AVRO_MAGIC)
    return FileFormat(gzip=False, avro=head[: len(AVRO_MAGIC)] == AVRO_MAGIC)


def records(opener: Any, fmt: FileFormat, start: Position) -> Iterator[FileRecord]:
    """The file's records from ``start`` on. ``opener(first_byte)`` returns a binary stream of the
    stored object from that byte (S3 GetObject with a Range). Raises :class:`UnreadableFileError`."""
    if fmt.avro:
        yield from _avro_records(_decompressed(opener(0), fmt), start)
    elif fmt.gzip:
        stream = _decompressed(opener(0), fmt)
        _skip(stream, start.offset)
        yield from _lines(stream, start)
    else:
        yield from _lines(opener(start.offset), start)


def _decompressed(raw: BinaryIO, fmt: FileFormat) -> BinaryIO:
    return gzip.GzipFile(fileobj=raw, mode="rb") if fmt.gzip else raw  # type: ignore[return-value]


def _read(stream: BinaryIO, size: int) -> bytes:
    try:
        return stream.read(size)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UnreadableFileError(f"the gzip stream is damaged: {exc}") from None


def _skip(stream: BinaryIO, count: int) -> None:
    while count > 0:
        chunk = _read(stream, min(_CHUNK, count))
        if not chunk:
            raise UnreadableFileError("the file is shorter than its checkpoint: it changed since")
        count -= len(chunk)


def _lines(stream: BinaryIO, start: Position) -> Iterator[FileRecord]:
    offset, index = start.offset, start.index
    pending = b""
    while True:
        chunk = _read(stream, _CHUNK)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        if len(pending) > MAX_LINE_BYTES:
            raise UnreadableFileError(f"a line longer than {MAX_LINE_BYTES} bytes after record {index}: not JSON Lines")
        for line in complete:
            offset += len(line) + 1
            body = line[:-1] if line.endswith(b"\r") else line
            if body.strip():
                yield FileRecord(body, index, Position(offset, index + 1))
                index += 1
    if pending.strip():  # a last line without a newline
        offset += len(pending)
        body = pending[:-1] if pending.endswith(b"\r") else pending
        yield FileRecord(body, index, Position(offset, index + 1))


def _avro_records(stream: BinaryIO, start: Position) -> Iterator[FileRecord]:
    from fastavro import block_reader  # noqa: PLC0415 (lazy, as risk.events.avro)
    from fastavro.schema import fingerprint, to_parsing_canonical_form  # noqa: PLC0415

    try:
        blocks = block_reader(stream)
        writer = blocks.writer_schema
    except Exception as exc:  # untrusted bytes: fastavro raises ValueError, EOFError, ...
        raise UnreadableFileError(f"not a readable Avro container: {type(exc).__name__}: {exc}"[:200]) from None
    codec = blocks.metadata.get("avro.codec", "null")
    if codec not in AVRO_CODECS:
        raise UnreadableFileError(
            f"the file's Avro codec {codec!r} is not supported: write it with one of {', '.join(AVRO_CODECS)}"[:200]
        )
    crc = bytes.fromhex(fingerprint(to_parsing_canonical_form(writer), "CRC-64-AVRO"))
    schema = avro.registry().get(crc)
    if schema is None:
        raise UnreadableFileError(f"the file's Avro schema (fingerprint {crc.hex()}) is not a registered event schema")
    index = 0
    try:
        for block in blocks:
            if index + block.num_records <= start.index:  # handled before: skipped without decoding
                index += block.num_records
                continue
            for record in block:
                if index >= start.index:
                    if not isinstance(record, dict):
                        raise UnreadableFileError("the file's Avro schema is not a record")
                    data = avro.encode_record(record, schema)
                    yield FileRecord(data, index, Position(0, index + 1))
                index += 1
    except UnreadableFileError:
        raise
    except Exception as exc:
        detail = f"Avro block after record {index} is damaged: {type(exc).__name__}: {exc}"
        raise UnreadableFileError(detail[:200]) from None
