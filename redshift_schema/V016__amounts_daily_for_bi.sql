-- Money at risk per day and band in the reporting currency, for BI (which cannot read the per-event
-- v_event_amounts: it carries user_id). Events without an amount, or without a rate on or before
-- their day, are counted in unconverted_events instead of being summed in a foreign currency.
CREATE OR REPLACE VIEW v_amounts_daily AS
SELECT
    CAST(DATE_TRUNC('day', e.occurred_at) AS DATE) AS day,
    e.risk_band,
    b.band_rank,
    MAX(a.reporting_currency) AS reporting_currency,
    COUNT(*) AS events,
    SUM(a.amount_reporting) AS amount_reporting,
    SUM(CASE WHEN e.amount IS NOT NULL AND a.amount_reporting IS NULL THEN 1 ELSE 0 END) AS unconverted_events
FROM risk_events AS e
JOIN v_event_amounts AS a ON a.event_id = e.event_id AND a.occurred_at = e.occurred_at
JOIN risk_bands AS b ON b.risk_band = e.risk_band
GROUP BY CAST(DATE_TRUNC('day', e.occurred_at) AS DATE), e.risk_band, b.band_rank;

GRANT SELECT ON v_amounts_daily TO ROLE risk_analyst;
GRANT SELECT ON v_amounts_daily TO ROLE risk_bi;
