-- Server-wide exports (`/server-export`): the servers where the operator enabled them, and the
-- server a job exports. A job with no server_id is a personal export of user_id's own data; a
-- job with a server_id exports that server's sessions for user_id, who asked as one of its
-- managers.
CREATE TABLE server_exports_enabled (
    server_id  INTEGER PRIMARY KEY NOT NULL CHECK (server_id > 0),
    enabled_at INTEGER NOT NULL
);

ALTER TABLE export_jobs ADD COLUMN server_id INTEGER CHECK (server_id IS NULL OR server_id > 0);

-- One job in progress per person and scope: a manager's server export does not wait for, or
-- block, their personal one.
DROP INDEX export_jobs_one_in_progress;
CREATE UNIQUE INDEX export_jobs_one_in_progress
    ON export_jobs (user_id, COALESCE(server_id, 0)) WHERE state IN ('queued', 'running');
CREATE INDEX export_jobs_by_server ON export_jobs (server_id, state) WHERE server_id IS NOT NULL;
