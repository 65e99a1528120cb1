-- Features relative to the user's own behaviour (issue 15; risk.score.model.Features): every feature
-- is a column of risk_events. NULL for rows scored before they existed. Redshift adds one column per
-- ALTER TABLE statement.
ALTER TABLE risk_events ADD COLUMN high_value_count_1h INTEGER;
ALTER TABLE risk_events ADD COLUMN spend_ratio_1h DOUBLE PRECISION;
ALTER TABLE risk_events ADD COLUMN velocity_ratio_1m DOUBLE PRECISION;
ALTER TABLE risk_events ADD COLUMN velocity_ratio_1h DOUBLE PRECISION;
ALTER TABLE risk_events ADD COLUMN device_age INTEGER;
ALTER TABLE risk_events ADD COLUMN country_age INTEGER;
