-- risk_bands: the bands in risk order (band_rank 1 = low .. 3 = high), so reports sort
-- low < medium < high instead of alphabetically. The names are risk.score.model.RISK_BANDS
-- (tests/warehouse/test_outcomes.py checks). DISTSTYLE ALL: a three-row dimension.
CREATE TABLE IF NOT EXISTS risk_bands (
    risk_band VARCHAR(8) NOT NULL ENCODE raw,
    band_rank INTEGER    NOT NULL ENCODE raw
)
DISTSTYLE ALL;

INSERT INTO risk_bands (risk_band, band_rank) VALUES ('low', 1), ('medium', 2), ('high', 3);

-- The known outcome of each labelled event: its own newest label if it has one, else the newest
-- label on its user reported at or after the event (a user found fraudulent taints the events
-- before the report, not those after it). Unlabelled events are not here: their outcome is unknown.
CREATE OR REPLACE VIEW v_event_outcomes AS
WITH event_labels AS (
    SELECT
        user_id,
        event_id,
        label,
        source,
        reported_at,
        ROW_NUMBER() OVER (PARTITION BY user_id, event_id ORDER BY reported_at DESC, source) AS newest
    FROM risk_labels
    WHERE subject = 'event'
),
user_labels AS (
    SELECT
        user_id,
        label,
        source,
        reported_at,
        ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY reported_at DESC, source) AS newest
    FROM risk_labels
    WHERE subject = 'user'
)
SELECT
    e.event_id,
    e.user_id,
    e.occurred_at,
    e.model_version,
    e.risk_band,
    e.score,
    COALESCE(el.label, ul.label) AS label,
    COALESCE(el.source, ul.source) AS label_source,
    CASE WHEN COALESCE(el.label, ul.label) = 'fraud' THEN 1 ELSE 0 END AS is_fraud
FROM risk_events AS e
LEFT JOIN event_labels AS el
    ON el.user_id = e.user_id AND el.event_id = e.event_id AND el.newest = 1
LEFT JOIN user_labels AS ul
    ON ul.user_id = e.user_id AND ul.newest = 1 AND e.occurred_at <= ul.reported_at
WHERE el.event_id IS NOT NULL OR ul.user_id IS NOT NULL;

-- Precision and recall per week (Monday, UTC), model version and band, over labelled events.
-- In a band: precision = fraud / labelled. At or above a band (alerting at that band): precision
-- = fraud / labelled among events in that band or higher, recall = that fraud / all labelled fraud
-- of the week and model version. NULL where there is nothing to divide by.
CREATE OR REPLACE VIEW v_precision_recall_weekly AS
SELECT
    week,
    model_version,
    risk_band,
    band_rank,
    labelled_events,
    fraud_events,
    labelled_at_or_above,
    fraud_at_or_above,
    fraud_total,
    CAST(fraud_events AS DOUBLE PRECISION) / NULLIF(labelled_events, 0) AS band_precision,
    CAST(fraud_at_or_above AS DOUBLE PRECISION) / NULLIF(labelled_at_or_above, 0) AS precision_at_or_above,
    CAST(fraud_at_or_above AS DOUBLE PRECISION) / NULLIF(fraud_total, 0) AS recall_at_or_above
FROM (
    SELECT
        week,
        model_version,
        risk_band,
        band_rank,
        labelled_events,
        fraud_events,
        SUM(labelled_events) OVER (
            PARTITION BY week, model_version ORDER BY band_rank DESC ROWS UNBOUNDED PRECEDING
        ) AS labelled_at_or_above,
        SUM(fraud_events) OVER (
            PARTITION BY week, model_version ORDER BY band_rank DESC ROWS UNBOUNDED PRECEDING
        ) AS fraud_at_or_above,
        SUM(fraud_events) OVER (PARTITION BY week, model_version) AS fraud_total
    FROM (
        SELECT
            DATE_TRUNC('week', o.occurred_at) AS week,
            o.model_version,
            o.risk_band,
            b.band_rank,
            COUNT(*) AS labelled_events,
            SUM(o.is_fraud) AS fraud_events
        FROM v_event_outcomes AS o
        JOIN risk_bands AS b ON b.risk_band = o.risk_band
        GROUP BY DATE_TRUNC('week', o.occurred_at), o.model_version, o.risk_band, b.band_rank
    ) AS per_band
) AS cumulative;

GRANT SELECT ON risk_bands TO ROLE risk_analyst;
GRANT SELECT ON v_event_outcomes TO ROLE risk_analyst;
GRANT SELECT ON v_precision_recall_weekly TO ROLE risk_analyst;
GRANT SELECT ON risk_bands TO ROLE risk_bi;
GRANT SELECT ON v_precision_recall_weekly TO ROLE risk_bi;
