-- The BI-ready layer: daily FX rates, and materialized views that dashboards read instead of
-- scanning risk_events. Auto refresh keeps them current as loads commit; Redshift recomputes
-- those it cannot refresh incrementally (window functions, outer joins). The PostgreSQL
-- stand-in renders each as a plain view (risk.warehouse.dialect), the equivalent of a refreshed one.

-- fx_rates: one rate a day per currency into one reporting currency (`riskctl fx load`,
-- risk.warehouse.fx): 1 unit of currency = rate units of reporting_currency. A day without a rate
-- (a weekend, a holiday) uses the latest earlier rate. DISTSTYLE ALL: small, joined to every row.
CREATE TABLE IF NOT EXISTS fx_rates (
    rate_date          DATE           NOT NULL ENCODE raw,
    currency           VARCHAR(3)     NOT NULL ENCODE bytedict,
    reporting_currency VARCHAR(3)     NOT NULL ENCODE bytedict,
    rate               DECIMAL(18, 8) NOT NULL ENCODE az64,
    loaded_at          TIMESTAMP      NOT NULL ENCODE az64
)
DISTSTYLE ALL
SORTKEY (rate_date);

-- risk_fx_loader: the identity of `riskctl fx load`.
CREATE ROLE risk_fx_loader;

GRANT USAGE ON SCHEMA public TO ROLE risk_fx_loader;
GRANT SELECT, INSERT, DELETE ON fx_rates TO ROLE risk_fx_loader;

-- Each event's amount in the reporting currency: at the latest rate on or before its day, at 1 when
-- it is already in the reporting currency (no rate row needed); NULL without an amount, or without
-- a rate yet (reporting_currency is then NULL too).
CREATE OR REPLACE VIEW v_event_amounts AS
SELECT
    e.event_id,
    e.user_id,
    e.occurred_at,
    e.amount,
    e.currency,
    CASE
        WHEN e.amount IS NOT NULL AND (e.currency = rc.reporting_currency OR fx.rate IS NOT NULL)
        THEN rc.reporting_currency
    END AS reporting_currency,
    CASE WHEN e.currency = rc.reporting_currency THEN e.amount ELSE e.amount * fx.rate END AS amount_reporting
FROM risk_events AS e
CROSS JOIN (SELECT MAX(reporting_currency) AS reporting_currency FROM fx_rates) AS rc
LEFT JOIN (
    SELECT
        currency,
        rate,
        rate_date AS valid_from,
        LEAD(rate_date) OVER (PARTITION BY currency ORDER BY rate_date) AS valid_to
    FROM fx_rates
) AS fx
    ON fx.currency = e.currency
    AND e.occurred_at >= fx.valid_from
    AND (fx.valid_to IS NULL OR e.occurred_at < fx.valid_to);

-- Risk per day and merchant (merchants as the SHA-256 that V008's masking shows readers).
CREATE MATERIALIZED VIEW mv_merchant_risk_daily
AUTO REFRESH YES
AS
SELECT
    CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day,
    SHA2(merchant_id, 256) AS merchant_sha256,
    COUNT(*) AS events,
    SUM(CASE WHEN risk_band = 'medium' THEN 1 ELSE 0 END) AS medium_events,
    SUM(CASE WHEN risk_band = 'high' THEN 1 ELSE 0 END) AS high_events,
    AVG(score) AS mean_score,
    MAX(score) AS max_score
FROM risk_events
WHERE merchant_id IS NOT NULL
GROUP BY CAST(DATE_TRUNC('day', occurred_at) AS DATE), SHA2(merchant_id, 256);

-- Risk per day and country.
CREATE MATERIALIZED VIEW mv_country_risk_daily
AUTO REFRESH YES
AS
SELECT
    CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day,
    COALESCE(country, '??') AS country,
    COUNT(*) AS events,
    SUM(CASE WHEN risk_band = 'medium' THEN 1 ELSE 0 END) AS medium_events,
    SUM(CASE WHEN risk_band = 'high' THEN 1 ELSE 0 END) AS high_events,
    AVG(score) AS mean_score,
    MAX(score) AS max_score
FROM risk_events
GROUP BY CAST(DATE_TRUNC('day', occurred_at) AS DATE), COALESCE(country, '??');

-- Risk per day and channel.
CREATE MATERIALIZED VIEW mv_channel_risk_daily
AUTO REFRESH YES
AS
SELECT
    CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day,
    COALESCE(channel, 'unknown') AS channel,
    COUNT(*) AS events,
    SUM(CASE WHEN risk_band = 'medium' THEN 1 ELSE 0 END) AS medium_events,
    SUM(CASE WHEN risk_band = 'high' THEN 1 ELSE 0 END) AS high_events,
    AVG(score) AS mean_score,
    MAX(score) AS max_score
FROM risk_events
GROUP BY CAST(DATE_TRUNC('day', occurred_at) AS DATE), COALESCE(channel, 'unknown');

-- Score histogram per hour and model version: ten buckets of 0.1 (bucket 0 = [0, 0.1), bucket 9 =
-- [0.9, 1]), so a dashboard sees a shift in the distribution, not only its mean.
CREATE MATERIALIZED VIEW mv_score_histogram_hourly
AUTO REFRESH YES
AS
SELECT
    DATE_TRUNC('hour', occurred_at) AS hour,
    model_version,
    CAST(LEAST(FLOOR(score * 10), 9) AS INTEGER) AS bucket,
    COUNT(*) AS events
FROM risk_events
GROUP BY DATE_TRUNC('hour', occurred_at), model_version, CAST(LEAST(FLOOR(score * 10), 9) AS INTEGER);

-- Flagged (medium or high) events per day, with the band's rank and the top risk reason: the
-- first of the first three reason codes that is not a missing input (a scorer emits at most two
-- missing-input codes, and puts risk reasons first). Per day, not a rolling 24 hours, so a BI
-- cache holds a fixed day.
CREATE MATERIALIZED VIEW mv_flagged_events_daily
AUTO REFRESH YES
AS
SELECT
    CAST(DATE_TRUNC('day', e.occurred_at) AS DATE) AS day,
    e.event_id,
    SHA2(e.user_id, 256) AS user_sha256,
    e.occurred_at,
    e.event_type,
    e.channel,
    e.country,
    e.amount,
    e.currency,
    e.score,
    e.risk_band,
    b.band_rank,
    e.model_version,
    COALESCE(r0.reason_code, r1.reason_code, r2.reason_code) AS top_reason
FROM risk_events AS e
JOIN risk_bands AS b ON b.risk_band = e.risk_band
LEFT JOIN reason_codes AS r0
    ON r0.reason_code = CAST(e.reason_codes[0] AS VARCHAR(64)) AND r0.kind <> 'missing_input'
LEFT JOIN reason_codes AS r1
    ON r1.reason_code = CAST(e.reason_codes[1] AS VARCHAR(64)) AND r1.kind <> 'missing_input'
LEFT JOIN reason_codes AS r2
    ON r2.reason_code = CAST(e.reason_codes[2] AS VARCHAR(64)) AND r2.kind <> 'missing_input'
WHERE e.risk_band IN ('medium', 'high');

GRANT SELECT ON fx_rates TO ROLE risk_analyst;
GRANT SELECT ON v_event_amounts TO ROLE risk_analyst;
GRANT SELECT ON mv_merchant_risk_daily TO ROLE risk_analyst;
GRANT SELECT ON mv_country_risk_daily TO ROLE risk_analyst;
GRANT SELECT ON mv_channel_risk_daily TO ROLE risk_analyst;
GRANT SELECT ON mv_score_histogram_hourly TO ROLE risk_analyst;
GRANT SELECT ON mv_flagged_events_daily TO ROLE risk_analyst;
GRANT SELECT ON fx_rates TO ROLE risk_bi;
GRANT SELECT ON mv_merchant_risk_daily TO ROLE risk_bi;
GRANT SELECT ON mv_country_risk_daily TO ROLE risk_bi;
GRANT SELECT ON mv_channel_risk_daily TO ROLE risk_bi;
GRANT SELECT ON mv_score_histogram_hourly TO ROLE risk_bi;
GRANT SELECT ON mv_flagged_events_daily TO ROLE risk_bi;
