-- risk_eraser: the operator's role for `riskctl forget` (docs/runbooks/erasure.md). It deletes one
-- user's rows from risk_events, and, like every writer of risk_events, first takes
-- LOCK risk_events_load_lock in the same transaction (an exclusive lock needs a write privilege).
-- An operator's IAM identity receives it through the tag RedshiftDbRoles=risk_eraser.
CREATE ROLE risk_eraser;

GRANT USAGE ON SCHEMA public TO ROLE risk_eraser;
GRANT SELECT, DELETE ON risk_events TO ROLE risk_eraser;
GRANT SELECT, INSERT, UPDATE, DELETE ON risk_events_load_lock TO ROLE risk_eraser;
