-- risk_retention: the scheduled retention job (lambdas/risk/retention, stacks/schema.py) deletes
-- risk_events rows older than cdk.json's archive.warehouse_retention_days. Like every writer of
-- risk_events it first takes LOCK risk_events_load_lock (an exclusive lock needs a write privilege).
-- The job's IAM role carries the tag RedshiftDbRoles=risk_retention.
CREATE ROLE risk_retention;

GRANT USAGE ON SCHEMA public TO ROLE risk_retention;
GRANT SELECT, DELETE ON risk_events TO ROLE risk_retention;
GRANT SELECT, INSERT, UPDATE, DELETE ON risk_events_load_lock TO ROLE risk_retention;
