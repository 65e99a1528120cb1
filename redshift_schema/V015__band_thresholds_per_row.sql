-- The band thresholds in force when each event was scored (score >= band_high_threshold is high,
-- >= band_medium_threshold is medium), carried from the score stage in the envelope: a report
-- over a period when the thresholds changed can tell the two regimes apart. NULL on rows loaded
-- before this migration.
ALTER TABLE risk_events ADD COLUMN band_medium_threshold DOUBLE PRECISION ENCODE zstd;

ALTER TABLE risk_events ADD COLUMN band_high_threshold DOUBLE PRECISION ENCODE zstd;
