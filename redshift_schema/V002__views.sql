-- Views for the fraud team and the dashboards. They read risk_events only, in UTC
-- (GETDATE() is the session's UTC time; timestamps are stored as UTC).

-- Flagged events of the last 24 hours, newest first, with their reasons: "flagged" means the
-- scorer put the event in the medium or high band.
CREATE OR REPLACE VIEW v_flagged_last_24h AS
SELECT
    event_id,
    user_id,
    event_type,
    occurred_at,
    amount,
    currency,
    country,
    score,
    risk_band,
    model_version,
    reason_codes,
    geo_flag,
    velocity_flag,
    new_device_flag,
    high_amount_flag
FROM risk_events
WHERE risk_band IN ('medium', 'high')
  AND occurred_at >= DATEADD(hour, -24, GETDATE());

-- Score distribution per hour and model version: volume, band counts, mean and tail of the score.
CREATE OR REPLACE VIEW v_score_distribution_hourly AS
SELECT
    DATE_TRUNC('hour', occurred_at) AS hour,
    model_version,
    COUNT(*) AS events,
    SUM(CASE WHEN risk_band = 'low' THEN 1 ELSE 0 END) AS low_events,
    SUM(CASE WHEN risk_band = 'medium' THEN 1 ELSE 0 END) AS medium_events,
    SUM(CASE WHEN risk_band = 'high' THEN 1 ELSE 0 END) AS high_events,
    AVG(score) AS mean_score,
    MIN(score) AS min_score,
    MAX(score) AS max_score
FROM risk_events
GROUP BY DATE_TRUNC('hour', occurred_at), model_version;

-- Per-user risk history: one row per event with the user's running totals, for case review.
CREATE OR REPLACE VIEW v_user_risk_history AS
SELECT
    user_id,
    event_id,
    occurred_at,
    event_type,
    amount,
    currency,
    score,
    risk_band,
    reason_codes,
    ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY occurred_at, event_id) AS event_seq,
    MAX(score) OVER (PARTITION BY user_id ORDER BY occurred_at, event_id ROWS UNBOUNDED PRECEDING) AS max_score_to_date,
    SUM(CASE WHEN risk_band = 'high' THEN 1 ELSE 0 END)
        OVER (PARTITION BY user_id ORDER BY occurred_at, event_id ROWS UNBOUNDED PRECEDING) AS high_events_to_date
FROM risk_events;
