-- Dynamic data masking for analysts: they see a SHA-256 of each pseudonymised key, never the
-- stored key itself. The mask is deterministic, so analysts can still group and join on it.
-- Redshift only: the PostgreSQL stand-in leaves these statements out (risk.warehouse.dialect).
CREATE MASKING POLICY mask_pseudonymised_key
WITH (pseudonym VARCHAR(128))
USING (SHA2(pseudonym, 256));

ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(ip_key) TO ROLE risk_analyst;
ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(device_key) TO ROLE risk_analyst;
ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(email_key) TO ROLE risk_analyst;
