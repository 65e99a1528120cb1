-- risk_labels: outcomes (chargebacks, confirmed fraud, false positives, analyst decisions), so the
-- precision of alerts can be measured and the model can learn from outcomes. One row per subject
-- (an event, or a whole user) and source: a newer report from the same source replaces the older
-- one (`riskctl labels load`, risk.warehouse.labels). Distribution matches risk_events (KEY on
-- user_id): the outcome join runs slice-local. Sort (user_id, event_id): the join keys.
CREATE TABLE IF NOT EXISTS risk_labels (
    subject     VARCHAR(8)   NOT NULL ENCODE bytedict,
    event_id    VARCHAR(64)           ENCODE zstd,
    user_id     VARCHAR(64)  NOT NULL ENCODE zstd,
    label       VARCHAR(16)  NOT NULL ENCODE bytedict,
    source      VARCHAR(32)  NOT NULL ENCODE bytedict,
    reported_at TIMESTAMP    NOT NULL ENCODE az64,
    loaded_at   TIMESTAMP    NOT NULL ENCODE az64,
    note        VARCHAR(256)          ENCODE zstd
)
DISTSTYLE KEY
DISTKEY (user_id)
COMPOUND SORTKEY (user_id, event_id);

-- risk_labeler: the identity that loads outcome files (`riskctl labels load`). It reads risk_events
-- to find the user of an event label, and replaces labels; it cannot touch risk_events.
CREATE ROLE risk_labeler;

GRANT USAGE ON SCHEMA public TO ROLE risk_labeler;
GRANT SELECT ON risk_events TO ROLE risk_labeler;
GRANT SELECT, INSERT, DELETE ON risk_labels TO ROLE risk_labeler;

-- Analysts read the labels, and get a schema of their own to write in (scratch tables, samples,
-- exports for training): public stays read-only for them.
GRANT SELECT ON risk_labels TO ROLE risk_analyst;

CREATE SCHEMA IF NOT EXISTS analyst_sandbox;

GRANT USAGE, CREATE ON SCHEMA analyst_sandbox TO ROLE risk_analyst;

-- The labels carry user_id and event notes: analysts see the same SHA-256 of user_id as on
-- risk_events (V008's policy), so joins between the two keep working for them.
-- Redshift only: the PostgreSQL stand-in leaves these statements out (risk.warehouse.dialect).
ATTACH MASKING POLICY mask_identifier ON risk_labels(user_id) TO ROLE risk_analyst;
