-- The OpenID Connect details of a token's grant (`sid`, `acr`, `amr`, the `claims`
-- request) as JSON, and the thumbprint of the DPoP key it is bound to (RFC 9449 §6).
ALTER TABLE keyward_oauth2_tokens ADD COLUMN session TEXT;
ALTER TABLE keyward_oauth2_tokens ADD COLUMN jkt TEXT;
