"""Columns of ``risk_events`` as the loader writes them.

The DDL in ``redshift_schema/`` is the definition; this list is what the loader
binds, and ``tests/warehouse`` checks that the two agree column for column.
Kinds: text, timestamp, decimal, double, int, bool, super (SUPER in Redshift,
JSONB on the PostgreSQL stand-in).
"""

from __future__ import annotations

from risk.events.limits import COLUMN_BYTES

RISK_EVENTS_TABLE = "risk_events"

RISK_EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "text"),
    ("user_id", "text"),
    ("event_type", "text"),
    ("channel", "text"),
    ("schema_version", "int"),
    ("occurred_at", "timestamp"),
    ("ingested_at", "timestamp"),
    ("loaded_at", "timestamp"),
    ("amount", "decimal"),
    ("currency", "text"),
    ("country", "text"),
    ("merchant_id", "text"),
    ("ip_key", "text"),  # keyed HMAC of the ip: joinable, not readable
    ("device_key", "text"),
    ("email_key", "text"),
    ("geo_lat", "double"),
    ("geo_lon", "double"),
    ("count_1m", "int"),
    ("count_1h", "int"),
    ("count_24h", "int"),
    ("amount_sum_1m", "decimal"),
    ("amount_sum_1h", "decimal"),
    ("amount_sum_24h", "decimal"),
    ("amount_zscore", "double"),
    ("amount_ratio", "double"),
    ("distance_km", "double"),
    ("speed_kmh", "double"),
    ("seconds_since_last", "double"),
    ("new_device", "bool"),
    ("new_country", "bool"),
    ("hour_of_day", "int"),
    ("geo_flag", "bool"),
    ("velocity_flag", "bool"),
    ("new_device_flag", "bool"),
    ("high_amount_flag", "bool"),
    ("score", "double"),
    ("risk_band", "text"),
    ("model_version", "text"),
    ("reason_codes", "super"),
    ("metadata", "super"),
    # Drill-through (V014): where the event entered and where its enriched copy is.
    ("kinesis_shard_id", "text"),
    ("kinesis_sequence_number", "text"),
    ("enriched_key", "text"),
    # The band thresholds the scorer applied (V015): score >= high is high, >= medium is medium.
    ("band_medium_threshold", "double"),
    ("band_high_threshold", "double"),
    # V020: features relative to the user's own behaviour (issue 15), added after the first table.
    ("high_value_count_1h", "int"),
    ("spend_ratio_1h", "double"),
    ("velocity_ratio_1m", "double"),
    ("velocity_ratio_1h", "double"),
    ("device_age", "int"),
    ("country_age", "int"),
    # V021: the shadow models' scores, [{"model_version", "score", "risk_band"}, ...] (issue 15).
    ("shadow_scores", "super"),
    # V024: per reason code, its contribution ([number or null, ...], aligned with reason_codes); NULL
    # for a scorer without contributions (SageMaker) and for messages from before them.
    ("reason_contributions", "super"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in RISK_EVENTS_COLUMNS)
PSEUDONYMISED_COLUMNS = ("ip_key", "device_key", "email_key")
# VARCHAR width in bytes of every text column: declared once, in the contract (risk.events.limits),
# enforced there by the validator; tests/warehouse/test_column_widths.py checks the DDL says the same.
# The drill-through columns are not in the contract; their widths are declared here, once: Kinesis
# shard ids are at most 128 characters, sequence numbers at most 129 digits (the API's patterns), and
# enriched keys (risk.common.archive.enriched_key) stay far below 256.
DRILL_THROUGH_BYTES: dict[str, int] = {"kinesis_shard_id": 128, "kinesis_sequence_number": 129, "enriched_key": 256}
TEXT_COLUMN_BYTES: dict[str, int] = {
    name: {**COLUMN_BYTES, **DRILL_THROUGH_BYTES}[name] for name, kind in RISK_EVENTS_COLUMNS if kind == "text"
}
