-- risk_events: one row per event_id, written only by the loader's MERGE.
-- Distribution: KEY on user_id, so a user's history is on one slice (per-user joins and windows
-- need no redistribution). Sort: (occurred_at, user_id): nearly every analyst query is bounded
-- by time, then narrowed to users; zone maps on occurred_at prune blocks for the 24 h views.
-- Encodings are explicit for every column (naming one turns ENCODE AUTO off for the table):
-- RAW for the leading sort column (zone maps work best uncompressed), AZ64 for numbers and
-- timestamps, BYTEDICT for low-cardinality text, ZSTD for the rest (free text, keys, SUPER).
-- The PRIMARY KEY is informational in Redshift: the loader's MERGE is what keeps event_id unique.
CREATE TABLE IF NOT EXISTS risk_events (
    event_id           VARCHAR(64)      NOT NULL ENCODE zstd,
    user_id            VARCHAR(64)      NOT NULL ENCODE zstd,
    event_type         VARCHAR(32)      NOT NULL ENCODE bytedict,
    channel            VARCHAR(16)               ENCODE bytedict,
    schema_version     INTEGER          NOT NULL ENCODE az64,
    occurred_at        TIMESTAMP        NOT NULL ENCODE raw,
    ingested_at        TIMESTAMP        NOT NULL ENCODE az64,
    loaded_at          TIMESTAMP        NOT NULL ENCODE az64,
    amount             DECIMAL(18, 4)            ENCODE az64,
    currency           VARCHAR(3)                ENCODE bytedict,
    country            VARCHAR(2)                ENCODE bytedict,
    merchant_id        VARCHAR(64)               ENCODE zstd,
    ip_key             VARCHAR(128)              ENCODE zstd,
    device_key         VARCHAR(128)              ENCODE zstd,
    email_key          VARCHAR(128)              ENCODE zstd,
    geo_lat            DOUBLE PRECISION          ENCODE zstd,
    geo_lon            DOUBLE PRECISION          ENCODE zstd,
    count_1m           INTEGER          NOT NULL ENCODE az64,
    count_1h           INTEGER          NOT NULL ENCODE az64,
    count_24h          INTEGER          NOT NULL ENCODE az64,
    amount_sum_1m      DECIMAL(20, 4)   NOT NULL ENCODE az64,
    amount_sum_1h      DECIMAL(20, 4)   NOT NULL ENCODE az64,
    amount_sum_24h     DECIMAL(20, 4)   NOT NULL ENCODE az64,
    amount_zscore      DOUBLE PRECISION          ENCODE zstd,
    amount_ratio       DOUBLE PRECISION          ENCODE zstd,
    distance_km        DOUBLE PRECISION          ENCODE zstd,
    speed_kmh          DOUBLE PRECISION          ENCODE zstd,
    seconds_since_last DOUBLE PRECISION          ENCODE zstd,
    new_device         BOOLEAN          NOT NULL ENCODE zstd,
    new_country        BOOLEAN          NOT NULL ENCODE zstd,
    hour_of_day        INTEGER          NOT NULL ENCODE az64,
    geo_flag           BOOLEAN          NOT NULL ENCODE zstd,
    velocity_flag      BOOLEAN          NOT NULL ENCODE zstd,
    new_device_flag    BOOLEAN          NOT NULL ENCODE zstd,
    high_amount_flag   BOOLEAN          NOT NULL ENCODE zstd,
    score              DOUBLE PRECISION NOT NULL ENCODE zstd,
    risk_band          VARCHAR(8)       NOT NULL ENCODE bytedict,
    model_version      VARCHAR(64)      NOT NULL ENCODE bytedict,
    reason_codes       SUPER                     ENCODE zstd,
    metadata           SUPER                     ENCODE zstd,
    PRIMARY KEY (event_id)
)
DISTSTYLE KEY
DISTKEY (user_id)
COMPOUND SORTKEY (occurred_at, user_id);
