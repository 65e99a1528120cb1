-- The reason code of xgb-v2's gap since the user's previous event (risk.score.vector.TIMING_FEATURES),
-- generated with risk.warehouse.reason_codes.migration_sql.
INSERT INTO reason_codes (reason_code, kind, description) VALUES
    ('SECONDS_SINCE_LAST', 'model_feature', 'model: how soon after the user''s previous event this one came');
