-- Drill-through: each row names where its event entered the pipeline (the Kinesis shard and
-- sequence number, which locate the record in raw/ and in the stream) and the enriched/ object the
-- loader wrote it to. They travel parse -> score -> load in the envelope (risk.common.envelope);
-- rows loaded before this migration have NULLs. Widths: risk.warehouse.columns.DRILL_THROUGH_BYTES.
ALTER TABLE risk_events ADD COLUMN kinesis_shard_id VARCHAR(128) ENCODE zstd;

ALTER TABLE risk_events ADD COLUMN kinesis_sequence_number VARCHAR(129) ENCODE zstd;

ALTER TABLE risk_events ADD COLUMN enriched_key VARCHAR(256) ENCODE zstd;
