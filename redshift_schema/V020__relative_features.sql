-- Features relative to the user's own behaviour (issue 15; risk.score.model.Features): every feature
-- is a column of risk_events. NULL for rows scored before they existed. Redshift adds one column per
-- ALTER TABLE statement; encodings as in V001 (AZ64 for integers, ZSTD for doubles).
ALTER TABLE risk_events ADD COLUMN high_value_count_1h INTEGER ENCODE az64;
ALTER TABLE risk_events ADD COLUMN spend_ratio_1h DOUBLE PRECISION ENCODE zstd;
ALTER TABLE risk_events ADD COLUMN velocity_ratio_1m DOUBLE PRECISION ENCODE zstd;
ALTER TABLE risk_events ADD COLUMN velocity_ratio_1h DOUBLE PRECISION ENCODE zstd;
ALTER TABLE risk_events ADD COLUMN device_age INTEGER ENCODE az64;
ALTER TABLE risk_events ADD COLUMN country_age INTEGER ENCODE az64;
