-- The reason codes of the features relative to the user's own behaviour (V020), generated with
-- risk.warehouse.reason_codes.migration_sql.
INSERT INTO reason_codes (reason_code, kind, description) VALUES
    ('COUNTRY_AGE', 'model_feature', 'model: how few of the user''s events the country has been seen for'),
    ('DEVICE_AGE', 'model_feature', 'model: how few of the user''s events the device has been seen for'),
    ('HIGH_VALUE_COUNT_1H', 'model_feature', 'model: number of high-value events in the last hour'),
    ('SPEND_RATIO_1H', 'model_feature', 'model: the last hour''s spend relative to the user''s mean amount'),
    ('VELOCITY_RATIO_1H', 'model_feature', 'model: events in the last hour relative to the user''s usual rate'),
    ('VELOCITY_RATIO_1M', 'model_feature', 'model: events in the last minute relative to the user''s usual rate');
