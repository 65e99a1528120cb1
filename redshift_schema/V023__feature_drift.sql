-- Daily drift per feature (issue 15, item 6): the population stability index (PSI) of each day's
-- distribution of a feature against the previous 7 days', over fixed bins (NULL is a bin of its own,
-- so inputs that go missing show as drift). PSI = SUM over bins of (a - e) * LN(a / e), a = the day's
-- share of events in the bin, e = the reference window's; a share of 0 counts as 0.0001 so that a bin
-- seen on one side only adds a large finite term instead of a division by zero. Rule of thumb:
-- < 0.1 stable, 0.1 to 0.25 moderate, >= 0.25 major (the drift column). A day without any event in its
-- reference window has no row. A plain view: it is read once a day, and the stand-in renders it as is.
CREATE OR REPLACE VIEW v_feature_drift_daily AS
WITH binned AS (
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'amount' AS feature,
        CASE
            WHEN amount IS NULL THEN 'null'
            WHEN amount < 10 THEN '01 < 10'
            WHEN amount < 50 THEN '02 [10, 50)'
            WHEN amount < 100 THEN '03 [50, 100)'
            WHEN amount < 250 THEN '04 [100, 250)'
            WHEN amount < 500 THEN '05 [250, 500)'
            WHEN amount < 1000 THEN '06 [500, 1000)'
            WHEN amount < 5000 THEN '07 [1000, 5000)'
            ELSE '08 >= 5000'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'amount_ratio' AS feature,
        CASE
            WHEN amount_ratio IS NULL THEN 'null'
            WHEN amount_ratio < 0.5 THEN '01 < 0.5'
            WHEN amount_ratio < 1 THEN '02 [0.5, 1)'
            WHEN amount_ratio < 2 THEN '03 [1, 2)'
            WHEN amount_ratio < 5 THEN '04 [2, 5)'
            WHEN amount_ratio < 10 THEN '05 [5, 10)'
            ELSE '06 >= 10'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'amount_zscore' AS feature,
        CASE
            WHEN amount_zscore IS NULL THEN 'null'
            WHEN amount_zscore < -1 THEN '01 < -1'
            WHEN amount_zscore < 0 THEN '02 [-1, 0)'
            WHEN amount_zscore < 1 THEN '03 [0, 1)'
            WHEN amount_zscore < 2 THEN '04 [1, 2)'
            WHEN amount_zscore < 3 THEN '05 [2, 3)'
            ELSE '06 >= 3'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'count_1h' AS feature,
        CASE
            WHEN count_1h IS NULL THEN 'null'
            WHEN count_1h < 2 THEN '01 < 2'
            WHEN count_1h < 3 THEN '02 [2, 3)'
            WHEN count_1h < 6 THEN '03 [3, 6)'
            WHEN count_1h < 11 THEN '04 [6, 11)'
            WHEN count_1h < 31 THEN '05 [11, 31)'
            ELSE '06 >= 31'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'count_24h' AS feature,
        CASE
            WHEN count_24h IS NULL THEN 'null'
            WHEN count_24h < 2 THEN '01 < 2'
            WHEN count_24h < 6 THEN '02 [2, 6)'
            WHEN count_24h < 21 THEN '03 [6, 21)'
            WHEN count_24h < 51 THEN '04 [21, 51)'
            WHEN count_24h < 201 THEN '05 [51, 201)'
            ELSE '06 >= 201'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'speed_kmh' AS feature,
        CASE
            WHEN speed_kmh IS NULL THEN 'null'
            WHEN speed_kmh < 100 THEN '01 < 100'
            WHEN speed_kmh < 500 THEN '02 [100, 500)'
            WHEN speed_kmh < 1000 THEN '03 [500, 1000)'
            ELSE '04 >= 1000'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'seconds_since_last' AS feature,
        CASE
            WHEN seconds_since_last IS NULL THEN 'null'
            WHEN seconds_since_last < 10 THEN '01 < 10'
            WHEN seconds_since_last < 60 THEN '02 [10, 60)'
            WHEN seconds_since_last < 3600 THEN '03 [60, 3600)'
            WHEN seconds_since_last < 86400 THEN '04 [3600, 86400)'
            ELSE '05 >= 86400'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'velocity_ratio_1h' AS feature,
        CASE
            WHEN velocity_ratio_1h IS NULL THEN 'null'
            WHEN velocity_ratio_1h < 0.5 THEN '01 < 0.5'
            WHEN velocity_ratio_1h < 1 THEN '02 [0.5, 1)'
            WHEN velocity_ratio_1h < 2 THEN '03 [1, 2)'
            WHEN velocity_ratio_1h < 5 THEN '04 [2, 5)'
            ELSE '05 >= 5'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'spend_ratio_1h' AS feature,
        CASE
            WHEN spend_ratio_1h IS NULL THEN 'null'
            WHEN spend_ratio_1h < 1 THEN '01 < 1'
            WHEN spend_ratio_1h < 2 THEN '02 [1, 2)'
            WHEN spend_ratio_1h < 5 THEN '03 [2, 5)'
            WHEN spend_ratio_1h < 10 THEN '04 [5, 10)'
            ELSE '05 >= 10'
        END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'new_device' AS feature,
        CASE WHEN new_device THEN 'true' ELSE 'false' END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'new_country' AS feature,
        CASE WHEN new_country THEN 'true' ELSE 'false' END AS bin
    FROM risk_events
    UNION ALL
    SELECT CAST(DATE_TRUNC('day', occurred_at) AS DATE) AS day, 'score' AS feature,
        CASE
            WHEN score IS NULL THEN 'null'
            WHEN score < 0.1 THEN '01 < 0.1'
            WHEN score < 0.2 THEN '02 [0.1, 0.2)'
            WHEN score < 0.3 THEN '03 [0.2, 0.3)'
            WHEN score < 0.4 THEN '04 [0.3, 0.4)'
            WHEN score < 0.5 THEN '05 [0.4, 0.5)'
            WHEN score < 0.6 THEN '06 [0.5, 0.6)'
            WHEN score < 0.7 THEN '07 [0.6, 0.7)'
            WHEN score < 0.8 THEN '08 [0.7, 0.8)'
            WHEN score < 0.9 THEN '09 [0.8, 0.9)'
            ELSE '10 >= 0.9'
        END AS bin
    FROM risk_events
),
daily AS (
    SELECT day, feature, bin, COUNT(*) AS events
    FROM binned
    GROUP BY day, feature, bin
),
day_totals AS (
    SELECT day, feature, SUM(events) AS events
    FROM daily
    GROUP BY day, feature
),
reference AS (
    SELECT t.day, t.feature, d.bin, SUM(d.events) AS events
    FROM day_totals AS t
    JOIN daily AS d
      ON d.feature = t.feature AND d.day >= DATEADD(day, -7, t.day) AND d.day < t.day
    GROUP BY t.day, t.feature, d.bin
),
reference_totals AS (
    SELECT day, feature, SUM(events) AS events
    FROM reference
    GROUP BY day, feature
),
shares AS (
    SELECT
        COALESCE(a.day, r.day) AS day,
        COALESCE(a.feature, r.feature) AS feature,
        GREATEST(COALESCE(CAST(a.events AS DOUBLE PRECISION) / dt.events, 0), 0.0001) AS actual,
        GREATEST(COALESCE(CAST(r.events AS DOUBLE PRECISION) / rt.events, 0), 0.0001) AS expected
    FROM (SELECT d.* FROM daily AS d JOIN reference_totals AS x ON x.day = d.day AND x.feature = d.feature) AS a
    FULL OUTER JOIN reference AS r ON r.day = a.day AND r.feature = a.feature AND r.bin = a.bin
    LEFT JOIN day_totals AS dt ON dt.day = COALESCE(a.day, r.day) AND dt.feature = COALESCE(a.feature, r.feature)
    LEFT JOIN reference_totals AS rt ON rt.day = COALESCE(a.day, r.day) AND rt.feature = COALESCE(a.feature, r.feature)
)
SELECT
    s.day,
    s.feature,
    MAX(t.events) AS events,
    MAX(rt.events) AS reference_events,
    SUM((s.actual - s.expected) * LN(s.actual / s.expected)) AS psi,
    CASE
        WHEN SUM((s.actual - s.expected) * LN(s.actual / s.expected)) >= 0.25 THEN 'major'
        WHEN SUM((s.actual - s.expected) * LN(s.actual / s.expected)) >= 0.1 THEN 'moderate'
        ELSE 'stable'
    END AS drift
FROM shares AS s
JOIN day_totals AS t ON t.day = s.day AND t.feature = s.feature
JOIN reference_totals AS rt ON rt.day = s.day AND rt.feature = s.feature
GROUP BY s.day, s.feature;

GRANT SELECT ON v_feature_drift_daily TO ROLE risk_analyst;
GRANT SELECT ON v_feature_drift_daily TO ROLE risk_bi;
