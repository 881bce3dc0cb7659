-- A server's leaderboard reads that server's sessions by check-in.
CREATE INDEX sessions_by_server ON sessions (server_id, checked_in_at);
