-- API keys limited to projects, like memberships: `projects` is a JSON
-- array of project ids of the key's workspace; NULL means every project.
-- A key limited to projects works only in them (and only reads the
-- workspace itself), within its role ceiling.
ALTER TABLE api_keys ADD COLUMN projects TEXT;
