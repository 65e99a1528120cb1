-- Champion vs shadows (issue 15, item 4): what a shadow would have decided, beside what the champion
-- did, per day (of occurred_at) and model version pair, over the events that carry the shadow's score
-- (risk_events.shadow_scores, V021; events without shadows are not compared). Read before promoting a
-- shadow (docs/runbooks/model-rollback.md); the dashboard's "Champion vs shadows" section shows the
-- same figures live. Plain views: read a few times a day, and the stand-in renders them as they are.
-- PartiQL unnesting of the SUPER array (`r.shadow_scores AS s AT i`) and navigation into each element
-- (`s.score`): the PostgreSQL stand-in renders a lateral jsonb_array_elements_text and
-- jsonb_extract_path_text (risk.warehouse.dialect).
--
-- Flips: "up" when the shadow puts the event in a higher band than the champion (low < medium < high),
-- "down" when lower; into_high / out_of_high are the flips that change an alert. Score buckets are
-- tenths numbered 0 .. 9 (bucket k holds [k/10, (k+1)/10), a score of 1 is in 9), as in
-- mv_score_histogram_hourly; the ScoresByBucket metric labels bucket k '0.k'.
CREATE OR REPLACE VIEW v_shadow_pairs AS
SELECT
    r.event_id,
    CAST(DATE_TRUNC('day', r.occurred_at) AS DATE) AS day,
    r.model_version AS champion_version,
    CAST(s.model_version AS VARCHAR(64)) AS shadow_version,
    r.risk_band AS champion_band,
    CAST(s.risk_band AS VARCHAR(16)) AS shadow_band,
    r.score AS champion_score,
    CAST(s.score AS DOUBLE PRECISION) AS shadow_score
FROM risk_events AS r, r.shadow_scores AS s AT i;

CREATE OR REPLACE VIEW v_shadow_comparison_daily AS
SELECT
    day,
    champion_version,
    shadow_version,
    events,
    same_band,
    CAST(100.0 * same_band / events AS DECIMAL(5, 2)) AS agreement_pct,
    flips_up,
    flips_down,
    into_high,
    out_of_high,
    CAST(100.0 * champion_high / events AS DECIMAL(5, 2)) AS champion_high_pct,
    CAST(100.0 * shadow_high / events AS DECIMAL(5, 2)) AS shadow_high_pct,
    champion_mean_score,
    shadow_mean_score
FROM (
    SELECT
        day,
        champion_version,
        shadow_version,
        COUNT(*) AS events,
        SUM(CASE WHEN shadow_band = champion_band THEN 1 ELSE 0 END) AS same_band,
        SUM(CASE WHEN shadow_rank > champion_rank THEN 1 ELSE 0 END) AS flips_up,
        SUM(CASE WHEN shadow_rank < champion_rank THEN 1 ELSE 0 END) AS flips_down,
        SUM(CASE WHEN shadow_band = 'high' AND champion_band <> 'high' THEN 1 ELSE 0 END) AS into_high,
        SUM(CASE WHEN champion_band = 'high' AND shadow_band <> 'high' THEN 1 ELSE 0 END) AS out_of_high,
        SUM(CASE WHEN champion_band = 'high' THEN 1 ELSE 0 END) AS champion_high,
        SUM(CASE WHEN shadow_band = 'high' THEN 1 ELSE 0 END) AS shadow_high,
        AVG(champion_score) AS champion_mean_score,
        AVG(shadow_score) AS shadow_mean_score
    FROM (
        SELECT
            p.*,
            CASE p.champion_band WHEN 'low' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END AS champion_rank,
            CASE p.shadow_band WHEN 'low' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END AS shadow_rank
        FROM v_shadow_pairs AS p
    ) AS ranked
    GROUP BY day, champion_version, shadow_version
) AS daily;

-- The two score distributions over the same compared events, bucket by bucket side by side.
CREATE OR REPLACE VIEW v_shadow_score_histogram_daily AS
WITH buckets AS (
    SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
    UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
),
pairs AS (
    SELECT
        day,
        champion_version,
        shadow_version,
        CAST(LEAST(FLOOR(champion_score * 10), 9) AS INTEGER) AS champion_k,
        CAST(LEAST(FLOOR(shadow_score * 10), 9) AS INTEGER) AS shadow_k
    FROM v_shadow_pairs
)
SELECT
    p.day,
    p.champion_version,
    p.shadow_version,
    b.k AS bucket,
    SUM(CASE WHEN p.champion_k = b.k THEN 1 ELSE 0 END) AS champion_events,
    SUM(CASE WHEN p.shadow_k = b.k THEN 1 ELSE 0 END) AS shadow_events
FROM pairs AS p
CROSS JOIN buckets AS b
GROUP BY p.day, p.champion_version, p.shadow_version, b.k;

GRANT SELECT ON v_shadow_pairs TO ROLE risk_analyst;
GRANT SELECT ON v_shadow_comparison_daily TO ROLE risk_analyst;
GRANT SELECT ON v_shadow_score_histogram_daily TO ROLE risk_analyst;
