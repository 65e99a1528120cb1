-- Reason contributions (issue 16): per reason code, what it added to the score, as
-- [number or null, ...] aligned with reason_codes (docs/scoring.md: log-odds for the bundled models,
-- a share of the score for the rules; null for missing inputs and SCORER_FALLBACK). NULL for a
-- scorer without contributions (SageMaker) and for rows loaded before this column.
ALTER TABLE risk_events ADD COLUMN reason_contributions SUPER ENCODE zstd;

-- v_event_reasons gains reason_contribution (last, so V011's columns keep their positions).
-- Redshift's CREATE OR REPLACE VIEW cannot change a view's columns: drop, create, grant again.
DROP VIEW IF EXISTS v_event_reasons;

-- As in V011: one row per event and risk reason, reason_rank counted over the risk reasons in the
-- scorer's order. The contribution is the element at the code's position: the two SUPER arrays are
-- unnested side by side (PartiQL `AT`, positions equal), and a row without contributions unnests its
-- codes alone with a NULL contribution (an array that is NULL unnests to no rows). The stand-in
-- renders each unnesting as a lateral jsonb_array_elements_text (risk.warehouse.dialect).
CREATE VIEW v_event_reasons AS
SELECT
    u.event_id,
    u.user_id,
    u.occurred_at,
    u.model_version,
    u.risk_band,
    u.score,
    u.reason_code,
    COALESCE(d.kind, 'unknown') AS reason_kind,
    ROW_NUMBER() OVER (PARTITION BY u.occurred_at, u.event_id ORDER BY u.reason_position) AS reason_rank,
    u.reason_contribution
FROM (
    SELECT
        e.event_id,
        e.user_id,
        e.occurred_at,
        e.model_version,
        e.risk_band,
        e.score,
        CAST(r AS VARCHAR(64)) AS reason_code,
        i AS reason_position,
        CAST(c AS DOUBLE PRECISION) AS reason_contribution
    FROM risk_events AS e, e.reason_codes AS r AT i, e.reason_contributions AS c AT j
    WHERE i = j
    UNION ALL
    SELECT
        e.event_id,
        e.user_id,
        e.occurred_at,
        e.model_version,
        e.risk_band,
        e.score,
        CAST(r AS VARCHAR(64)) AS reason_code,
        i AS reason_position,
        CAST(NULL AS DOUBLE PRECISION) AS reason_contribution
    FROM risk_events AS e, e.reason_codes AS r AT i
    WHERE e.reason_contributions IS NULL
) AS u
LEFT JOIN reason_codes AS d ON d.reason_code = u.reason_code
WHERE COALESCE(d.kind, 'unknown') <> 'missing_input';

GRANT SELECT ON v_event_reasons TO ROLE risk_analyst;
GRANT SELECT ON v_event_reasons TO ROLE risk_bi;
