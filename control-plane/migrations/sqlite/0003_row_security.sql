-- Row-level security is Postgres's; on SQLite the store API scopes every
-- query by workspace itself. Nothing to change here.
SELECT 1;
