-- A server's members are the distinct users of its sessions; this index lists them in user id
-- order without reading the server's sessions once per user.
CREATE INDEX sessions_by_server_user ON sessions (server_id, user_id);
