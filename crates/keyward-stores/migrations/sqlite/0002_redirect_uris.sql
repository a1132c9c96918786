-- Callback URIs a client registered (RFC 5849 §2.1): a JSON array of strings, compared
-- exactly; NULL means any absolute URL or `oob`.
ALTER TABLE keyward_oauth1_clients ADD COLUMN redirect_uris TEXT;
