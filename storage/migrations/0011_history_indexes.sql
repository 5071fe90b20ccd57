-- Work that does not grow with history: the sweepers and the overdue watch read partial indexes
-- holding only the deliveries they may act on (in flight, or not yet flagged and still open), so a
-- year of acknowledged letters costs them nothing.

-- A letter's DueDate, copied onto each of its deliveries when the delivery is made: the overdue
-- watch's index must leave out the deliveries that can never fall overdue by date (no DueDate),
-- and an index can only read its own table.
ALTER TABLE deliveries ADD COLUMN due_date date;

UPDATE deliveries d SET due_date = doc.due_date
  FROM documents doc
 WHERE doc.id = d.document_id AND doc.due_date IS NOT NULL;

CREATE FUNCTION axis_delivery_due_date() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.due_date IS NULL THEN
        SELECT doc.due_date INTO NEW.due_date FROM documents doc WHERE doc.id = NEW.document_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER deliveries_due_date
    BEFORE INSERT ON deliveries
    FOR EACH ROW EXECUTE FUNCTION axis_delivery_due_date();

-- The pull sweep: deliveries still waiting for their notice (a few, however old the ledger).
CREATE INDEX deliveries_queued ON deliveries (created_at) WHERE state = 'queued';

-- The overdue watch, rule 1: not acknowledged in time, not yet flagged.
CREATE INDEX deliveries_watch_unacked ON deliveries (created_at)
    WHERE overdue_logged_at IS NULL AND state IN ('queued', 'available');

-- The overdue watch, rule 2: past the DueDate without 06 (done) or 02 (refused), not yet flagged.
CREATE INDEX deliveries_watch_due ON deliveries (due_date)
    WHERE overdue_logged_at IS NULL AND due_date IS NOT NULL AND state <> 'failed'
      AND business_status IS DISTINCT FROM '06' AND business_status IS DISTINCT FROM '02';

-- The overdue gauge: flagged deliveries that may still be overdue (unacknowledged, or dated and
-- open), of which it counts those overdue now; its cost is what it counts.
CREATE INDEX deliveries_watch_flagged ON deliveries (document_id)
    WHERE overdue_logged_at IS NOT NULL AND state <> 'failed'
      AND business_status IS DISTINCT FROM '06' AND business_status IS DISTINCT FROM '02'
      AND (state IN ('queued', 'available') OR due_date IS NOT NULL);

-- An agency's received letters, newest first (the clerks' list and /v1/deliveries): a page is read
-- backwards from here instead of sorting all the agency has ever received.
CREATE INDEX deliveries_recipient_seq ON deliveries (recipient, seq);

-- The clerks' lists ask of each letter whether its sender asked for it back (status 13): a few
-- rows, however many statuses are stored.
CREATE INDEX documents_recall_asked ON documents (responds_to)
    WHERE kind = 'status' AND status_code = '13';
