-- Delivering exports to people on Discord.
--
-- A request made on Discord has one delivery row beside its job. The row outlives restarts, so
-- an export that finishes while the bot is away, or whose direct message meets a temporary
-- error, is delivered later; its states make sure no one is sent the same export twice.

-- Whether the request was a further one within the free period, made after the user was told
-- that additional exports may incur a reasonable administrative fee and confirmed.
ALTER TABLE export_jobs ADD COLUMN further_request INTEGER NOT NULL DEFAULT 0
    CHECK (further_request IN (0, 1));

CREATE TABLE export_deliveries (
    job_id           INTEGER PRIMARY KEY NOT NULL REFERENCES export_jobs (job_id) ON DELETE CASCADE,
    -- pending: waiting for the job to finish, or for the next attempt at `due_at`.
    -- sending: a process is talking to Discord now, since `claimed_at`.
    -- sent:    Discord accepted the message (the export's, or the notice that it failed).
    -- closed:  the user does not accept direct messages from the bot; the export is kept.
    -- failed:  a permanent error, or every attempt used up; `detail` says which.
    -- unknown: a process stopped while sending and Discord's duplicate check has lapsed, so
    --          nobody can tell whether the message arrived; it is not sent again.
    state            TEXT    NOT NULL
        CHECK (state IN ('pending', 'sending', 'sent', 'closed', 'failed', 'unknown')),
    -- Each new /data-export that re-delivers the same export starts a new round, with its own
    -- message nonce; attempts within a round share one, so Discord drops a repeat.
    round            INTEGER NOT NULL DEFAULT 1,
    attempts         INTEGER NOT NULL DEFAULT 0,
    due_at           INTEGER NOT NULL,
    claimed_at       INTEGER,
    delivered_at     INTEGER,
    detail           TEXT,
    -- When an attempt of this round first ended without knowing whether Discord created the
    -- message (a timeout, a broken connection). A retry is only safe while Discord still
    -- remembers that attempt's nonce; after that the delivery ends `unknown`.
    ambiguous_at     INTEGER,
    -- The interaction whose private reply is updated when the delivery ends. Discord accepts
    -- edits for 15 minutes; the token is cleared once used or expired.
    reply_token      TEXT,
    reply_expires_at INTEGER,
    updated_at       INTEGER NOT NULL
);

CREATE INDEX export_deliveries_due ON export_deliveries (state, due_at);
