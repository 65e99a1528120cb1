-- Database roles (Redshift RBAC). Identities get them outside the migrations: an IAM role
-- tagged RedshiftDbRoles=<role> receives them when it signs in through GetCredentials.
CREATE ROLE risk_loader;
CREATE ROLE risk_analyst;
CREATE ROLE risk_bi;

-- The loader writes risk_events only: MERGE needs SELECT, INSERT and UPDATE on the target.
-- Its staging table is a session TEMP table (TEMP on the database is granted to PUBLIC by default).
GRANT USAGE ON SCHEMA public TO ROLE risk_loader;
GRANT SELECT, INSERT, UPDATE ON risk_events TO ROLE risk_loader;

-- Analysts read everything; V004 masks the pseudonymised keys for them.
GRANT USAGE ON SCHEMA public TO ROLE risk_analyst;
GRANT SELECT ON risk_events TO ROLE risk_analyst;
GRANT SELECT ON v_flagged_last_24h TO ROLE risk_analyst;
GRANT SELECT ON v_score_distribution_hourly TO ROLE risk_analyst;
GRANT SELECT ON v_user_risk_history TO ROLE risk_analyst;

-- BI tools read the views only.
GRANT USAGE ON SCHEMA public TO ROLE risk_bi;
GRANT SELECT ON v_flagged_last_24h TO ROLE risk_bi;
GRANT SELECT ON v_score_distribution_hourly TO ROLE risk_bi;
GRANT SELECT ON v_user_risk_history TO ROLE risk_bi;
