-- Who may COPY through the namespace's IAM roles. Redshift grants ASSUMEROLE on every role attached
-- to the namespace to PUBLIC by default, so any warehouse user could COPY (or UNLOAD) with the
-- default role. The loader's COPY names `IAM_ROLE default` (lambdas/risk/warehouse/loader.py), and
-- the default role is the COPY role of stacks/warehouse.py: reads enriched/ only, decrypts through
-- S3 only. Its ARN is known at deploy time only, so the grant names `default`, never an ARN.
-- Redshift only: the PostgreSQL stand-in leaves these statements out (risk.warehouse.dialect).
REVOKE ASSUMEROLE ON ALL FROM PUBLIC FOR ALL;

GRANT ASSUMEROLE ON default TO ROLE risk_loader FOR COPY;
