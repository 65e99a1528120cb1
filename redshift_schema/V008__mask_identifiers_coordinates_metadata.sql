-- Dynamic data masking, extended (V004 masks the pseudonymised keys for analysts). For risk_analyst
-- and risk_bi (who reads v_user_risk_history, which carries user_id):
-- * user_id and merchant_id: a SHA-256 (64 hex characters, the columns' VARCHAR(64)), deterministic,
--   so grouping and joining per user or merchant still work;
-- * geo_lat and geo_lon: rounded to 1 decimal (about 11 km): regional analysis, no street address;
-- * metadata: replaced by an empty object (free-form, producer-defined, may hold anything).
-- Redshift only: the PostgreSQL stand-in leaves these statements out (risk.warehouse.dialect);
-- tests/warehouse/test_masking.py checks their shape against the DDL.
CREATE MASKING POLICY mask_identifier
WITH (identifier VARCHAR(64))
USING (SHA2(identifier, 256));

CREATE MASKING POLICY mask_coordinate
WITH (coordinate DOUBLE PRECISION)
USING (ROUND(coordinate, 1));

CREATE MASKING POLICY mask_metadata
WITH (doc SUPER)
USING (JSON_PARSE('{}'));

ATTACH MASKING POLICY mask_identifier ON risk_events(user_id) TO ROLE risk_analyst;
ATTACH MASKING POLICY mask_identifier ON risk_events(merchant_id) TO ROLE risk_analyst;
ATTACH MASKING POLICY mask_coordinate ON risk_events(geo_lat) TO ROLE risk_analyst;
ATTACH MASKING POLICY mask_coordinate ON risk_events(geo_lon) TO ROLE risk_analyst;
ATTACH MASKING POLICY mask_metadata ON risk_events(metadata) TO ROLE risk_analyst;

ATTACH MASKING POLICY mask_identifier ON risk_events(user_id) TO ROLE risk_bi;
ATTACH MASKING POLICY mask_identifier ON risk_events(merchant_id) TO ROLE risk_bi;
ATTACH MASKING POLICY mask_coordinate ON risk_events(geo_lat) TO ROLE risk_bi;
ATTACH MASKING POLICY mask_coordinate ON risk_events(geo_lon) TO ROLE risk_bi;
ATTACH MASKING POLICY mask_metadata ON risk_events(metadata) TO ROLE risk_bi;
ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(ip_key) TO ROLE risk_bi;
ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(device_key) TO ROLE risk_bi;
ATTACH MASKING POLICY mask_pseudonymised_key ON risk_events(email_key) TO ROLE risk_bi;
