-- Plugin versions taken out of service by a rollback, by the SHA-256 of their component, so that
-- a restart reading the plugin folder does not put the same bytes back into service.
CREATE TABLE plugin_rollbacks (
    sha256         TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL,
    version        TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    rolled_back_at INTEGER NOT NULL
);
