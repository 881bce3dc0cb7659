-- A break never ends before it starts. The rules already refuse it; the triggers make the
-- database refuse it too, whatever path a write takes. (SQLite cannot add a CHECK constraint to
-- an existing table, so triggers stand in for one.)

CREATE TRIGGER breaks_end_after_start_insert
BEFORE INSERT ON breaks
WHEN NEW.ended_at IS NOT NULL AND NEW.ended_at < NEW.started_at
BEGIN
    SELECT RAISE(ABORT, 'a break cannot end before it starts');
END;

CREATE TRIGGER breaks_end_after_start_update
BEFORE UPDATE OF started_at, ended_at ON breaks
WHEN NEW.ended_at IS NOT NULL AND NEW.ended_at < NEW.started_at
BEGIN
    SELECT RAISE(ABORT, 'a break cannot end before it starts');
END;
