-- risk_events_load_lock: the loaders' mutex. Redshift runs transactions under snapshot isolation and
-- never enforces a primary key, so two loads checking "is this event_id loaded?" in their own
-- snapshots would both insert it. Each load's publish transaction starts with LOCK on this table
-- (see lambdas/risk/warehouse/loader.py): the lock serialises publishers and the snapshot starts
-- after it is granted, so each sees every load committed before it. A separate table, because
-- Redshift's LOCK is ACCESS EXCLUSIVE: locking risk_events itself would block analysts' reads.
-- It never holds rows. Every writer of risk_events must take this lock first.
CREATE TABLE IF NOT EXISTS risk_events_load_lock (
    held_by VARCHAR(64)
)
DISTSTYLE ALL;

-- The loader inserts only (no MERGE, no UPDATE any more): it needs SELECT and INSERT on risk_events,
-- and the right to LOCK the mutex (an exclusive lock needs a write privilege on the table).
REVOKE UPDATE ON risk_events FROM ROLE risk_loader;
GRANT SELECT, INSERT, UPDATE, DELETE ON risk_events_load_lock TO ROLE risk_loader;
