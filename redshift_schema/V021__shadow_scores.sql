-- Champion and shadow models (issue 15): every shadow model's opinion of the event, stored beside the
-- champion's score (score, risk_band, model_version), as [{"model_version", "score", "risk_band"}, ...].
-- NULL when the environment runs no shadow. In Redshift, unnest with PartiQL: FROM risk_events r, r.shadow_scores s.
ALTER TABLE risk_events ADD COLUMN shadow_scores SUPER ENCODE zstd;
