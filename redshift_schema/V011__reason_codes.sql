-- Reasons as rows. reason_codes: the dictionary of every code a scorer can emit, with its kind
-- (rule, model_feature, missing_input, scorer). The rows below are generated from the scorers'
-- own lists (risk.warehouse.reason_codes.migration_sql); tests/warehouse/test_reason_codes.py
-- fails when a scorer gains a code no migration inserts. DISTSTYLE ALL: a small dimension
-- joined to every events query.
CREATE TABLE IF NOT EXISTS reason_codes (
    reason_code VARCHAR(64)  NOT NULL ENCODE zstd,
    kind        VARCHAR(16)  NOT NULL ENCODE bytedict,
    description VARCHAR(256) NOT NULL ENCODE zstd
)
DISTSTYLE ALL
SORTKEY (reason_code);

INSERT INTO reason_codes (reason_code, kind, description) VALUES
    ('AMOUNT', 'model_feature', 'model: the amount itself raised the score'),
    ('AMOUNT_RATIO', 'model_feature', 'model: amount relative to the user''s mean amount'),
    ('AMOUNT_SPIKE', 'rule', 'rule: amount z-score against the user''s history is extreme'),
    ('AMOUNT_SUM_1H', 'model_feature', 'model: total amount in the last hour'),
    ('AMOUNT_ZSCORE', 'model_feature', 'model: amount z-score against the user''s history'),
    ('CARD_TESTING', 'rule', 'rule: many tiny payments within an hour (card testing)'),
    ('COUNT_1H', 'model_feature', 'model: number of events in the last hour'),
    ('COUNT_1M', 'model_feature', 'model: number of events in the last minute'),
    ('COUNT_24H', 'model_feature', 'model: number of events in the last 24 hours'),
    ('DISTANCE_KM', 'model_feature', 'model: distance from the last event''s location'),
    ('GEO_FLAG', 'model_feature', 'model: the impossible-travel indicator'),
    ('HIGH_AMOUNT', 'rule', 'rule: amount far above the user''s usual amounts'),
    ('HIGH_AMOUNT_FLAG', 'model_feature', 'model: the high-amount indicator'),
    ('HOUR_OF_DAY', 'model_feature', 'model: the hour of day (UTC) is unusual'),
    ('IMPOSSIBLE_TRAVEL', 'rule', 'rule: implied travel speed since the user''s last event is impossible'),
    ('MISSING_AMOUNT', 'missing_input', 'missing input: the event had no amount; scored with a default'),
    ('MISSING_GEO', 'missing_input', 'missing input: the event had no location; scored with a default'),
    ('NEW_COUNTRY', 'rule', 'rule: first event of the user from this country'),
    ('NEW_DEVICE', 'model_feature', 'model: a device the user never used'),
    ('NEW_DEVICE_FLAG', 'model_feature', 'model: the new-device-with-high-amount indicator'),
    ('NEW_DEVICE_HIGH_AMOUNT', 'rule', 'rule: a high amount from a device the user never used'),
    ('SCORER_FALLBACK', 'scorer', 'scorer: the SageMaker endpoint failed; the bundled model scored the event'),
    ('SMALL_AMOUNT', 'model_feature', 'model: a very small amount (typical of card testing)'),
    ('SPEED_KMH', 'model_feature', 'model: implied travel speed since the last event'),
    ('VELOCITY_1H', 'rule', 'rule: too many events within an hour'),
    ('VELOCITY_1M', 'rule', 'rule: too many events within a minute'),
    ('VELOCITY_FLAG', 'model_feature', 'model: the velocity indicator');


-- One row per event and risk reason, in the scorer's order (reason_rank 1 = most important).
-- Missing-input codes are not risk reasons: they are in v_event_missing_inputs instead, so they
-- never dominate "top reasons". The rank is counted over the risk reasons only. A code no
-- dictionary row names still shows, with kind 'unknown'. The window is partitioned by
-- (occurred_at, event_id), so a filter on occurred_at prunes risk_events before unnesting.
-- PartiQL unnesting of the SUPER array (`e.reason_codes AS r AT i`): the PostgreSQL stand-in
-- renders a lateral jsonb_array_elements_text (risk.warehouse.dialect).
CREATE OR REPLACE VIEW v_event_reasons AS
SELECT
    u.event_id,
    u.user_id,
    u.occurred_at,
    u.model_version,
    u.risk_band,
    u.score,
    u.reason_code,
    COALESCE(d.kind, 'unknown') AS reason_kind,
    ROW_NUMBER() OVER (PARTITION BY u.occurred_at, u.event_id ORDER BY u.reason_position) AS reason_rank
FROM (
    SELECT
        e.event_id,
        e.user_id,
        e.occurred_at,
        e.model_version,
        e.risk_band,
        e.score,
        CAST(r AS VARCHAR(64)) AS reason_code,
        i AS reason_position
    FROM risk_events AS e, e.reason_codes AS r AT i
) AS u
LEFT JOIN reason_codes AS d ON d.reason_code = u.reason_code
WHERE COALESCE(d.kind, 'unknown') <> 'missing_input';

-- The inputs each event was missing (scored with defaults): data quality, not risk.
CREATE OR REPLACE VIEW v_event_missing_inputs AS
SELECT
    u.event_id,
    u.user_id,
    u.occurred_at,
    u.model_version,
    u.reason_code
FROM (
    SELECT e.event_id, e.user_id, e.occurred_at, e.model_version, CAST(r AS VARCHAR(64)) AS reason_code
    FROM risk_events AS e, e.reason_codes AS r AT i
) AS u
JOIN reason_codes AS d ON d.reason_code = u.reason_code
WHERE d.kind = 'missing_input';

GRANT SELECT ON reason_codes TO ROLE risk_analyst;
GRANT SELECT ON v_event_reasons TO ROLE risk_analyst;
GRANT SELECT ON v_event_missing_inputs TO ROLE risk_analyst;
GRANT SELECT ON reason_codes TO ROLE risk_bi;
GRANT SELECT ON v_event_reasons TO ROLE risk_bi;
