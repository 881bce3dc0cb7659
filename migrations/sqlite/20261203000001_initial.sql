-- Clocky's first schema.
--
-- Instants are whole seconds since the Unix epoch, UTC. Discord ids are stored as they are
-- (every snowflake fits a signed 64-bit integer). Personal rows hang off `users` with
-- ON DELETE CASCADE, so deleting a user really deletes everything about them.

CREATE TABLE users (
    user_id            INTEGER PRIMARY KEY NOT NULL CHECK (user_id > 0),
    username           TEXT    NOT NULL,
    -- 0 for accounts without a discriminator (new-style usernames).
    discriminator      INTEGER NOT NULL DEFAULT 0 CHECK (discriminator BETWEEN 0 AND 9999),
    first_seen_at      INTEGER NOT NULL,
    timezone           TEXT    NOT NULL DEFAULT 'UTC',
    leaderboard_public INTEGER NOT NULL DEFAULT 0 CHECK (leaderboard_public IN (0, 1)),
    updated_at         INTEGER NOT NULL
);

CREATE TABLE servers (
    server_id  INTEGER PRIMARY KEY NOT NULL CHECK (server_id > 0),
    name       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    session_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    server_id      INTEGER NOT NULL REFERENCES servers (server_id) ON DELETE CASCADE,
    checked_in_at  INTEGER NOT NULL,
    checked_out_at INTEGER,
    status         TEXT    NOT NULL CHECK (status IN ('active', 'completed', 'auto-closed')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK ((status = 'active') = (checked_out_at IS NULL)),
    CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at)
);

-- One active session per user per server, enforced by the database as well as the rules.
CREATE UNIQUE INDEX sessions_one_active ON sessions (user_id, server_id) WHERE checked_out_at IS NULL;
-- Paging a user's sessions by check-in.
CREATE INDEX sessions_by_user ON sessions (user_id, checked_in_at, session_id);
-- The auto-close sweep.
CREATE INDEX sessions_open ON sessions (checked_in_at) WHERE checked_out_at IS NULL;

CREATE TABLE breaks (
    break_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    -- The session's user, repeated so a user's breaks can be paged by start with an index.
    user_id    INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE UNIQUE INDEX breaks_one_running ON breaks (session_id) WHERE ended_at IS NULL;
CREATE INDEX breaks_by_session ON breaks (session_id, started_at, break_id);
CREATE INDEX breaks_by_user ON breaks (user_id, started_at, break_id);

CREATE TABLE export_jobs (
    job_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    -- The export plugin asked for, such as 'data-export'.
    format            TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'ready', 'failed', 'expired')),
    requested_at      INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    plugin_name       TEXT,
    plugin_version    TEXT,
    -- For failed jobs: a short machine word (timeout, out-of-memory, trap, ...) and the detail
    -- for the operator. Users are shown a plain sentence chosen from the word.
    failure_kind      TEXT,
    failure_detail    TEXT,
    -- For ready jobs: the stored file and what the delivery message shows.
    generated_at      INTEGER,
    expires_at        INTEGER,
    file_key          TEXT,
    file_name         TEXT,
    media_type        TEXT,
    file_size         INTEGER,
    file_sha256       TEXT,
    sessions_included INTEGER,
    servers_included  INTEGER
);

-- One export in progress per user. Failed and finished jobs do not block a new request.
CREATE UNIQUE INDEX export_jobs_one_in_progress ON export_jobs (user_id) WHERE state IN ('queued', 'running');
CREATE INDEX export_jobs_queue ON export_jobs (state, requested_at);

CREATE TABLE download_links (
    link_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     INTEGER NOT NULL REFERENCES export_jobs (job_id) ON DELETE CASCADE,
    -- SHA-256 of the token. The token itself is only ever in the user's hands.
    token_hash BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    downloads  INTEGER NOT NULL DEFAULT 0
);
