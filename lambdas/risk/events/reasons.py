"""Machine-readable reasons a Kinesis record is quarantined instead of parsed: part of the event contract."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    BAD_BASE64 = "bad_base64"  # Kinesis data is not valid base64
    EMPTY_RECORD = "empty_record"  # zero bytes
    OVERSIZE = "oversize"  # larger than the event size limit
    NOT_UTF8 = "not_utf8"  # neither Avro nor valid UTF-8 text
    BAD_AGGREGATE = "bad_aggregate"  # KPL magic bytes, but a damaged aggregated record (or one nested in another)
    NOT_JSON = "not_json"  # UTF-8 but not parseable JSON
    NOT_AN_OBJECT = "not_an_object"  # JSON, but not an object
    UNKNOWN_FINGERPRINT = "unknown_fingerprint"  # Avro single-object marker, unknown schema
    AVRO_DECODE_ERROR = "avro_decode_error"  # known schema, body does not decode
    MISSING_FIELD = "missing_field"  # a required field is absent or null
    WRONG_TYPE = "wrong_type"  # a field has the wrong JSON type
    TOO_LONG = "too_long"  # a string longer than its limit
    BAD_TIMESTAMP = "bad_timestamp"  # occurred_at is not RFC 3339 with an offset
    OUT_OF_RANGE = "out_of_range"  # negative amount, latitude beyond 90, ...
    BAD_CURRENCY = "bad_currency"  # not an ISO 4217 code, or amount without currency
    BAD_COUNTRY = "bad_country"  # not an ISO 3166-1 alpha-2 code
    BAD_CHANNEL = "bad_channel"  # not web, app or api
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    BAD_IP = "bad_ip"  # ip is not an IPv4 or IPv6 address
    BAD_EMAIL = "bad_email"  # email fails the light syntax check
    TOO_DEEP = "too_deep"  # JSON nested deeper than MAX_JSON_DEPTH (limits.py)
    TOO_LARGE = "too_large"  # canonical metadata above the SUPER staging limit (limits.py)
    FUTURE_TIMESTAMP = "future_timestamp"  # occurred_at later than arrival + the clock-skew tolerance
    UNPUBLISHABLE = "unpublishable"  # valid, but the envelope or SQS refused it (a validator gap): kept for replay
    SCORE_ERROR = "score_error"  # score stage: the event failed to score or to encode; quarantined alone
    PARSER_ERROR = "parser_error"  # an unexpected exception in the parser (a bug): kept for replay
