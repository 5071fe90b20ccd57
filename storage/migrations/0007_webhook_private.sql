-- A webhook may point at a loopback, link-local, unspecified or private address only when the
-- operator said so (`axis agency add|set-webhook --allow-private`).
ALTER TABLE agencies ADD COLUMN webhook_allow_private boolean NOT NULL DEFAULT false;

-- Webhooks registered before the rule keep working when their host is written as `localhost` or as
-- an IP address (the operator chose that address knowingly); a host name that resolves to loopback
-- or link-local is refused at push time from now on.
UPDATE agencies SET webhook_allow_private = true
 WHERE webhook_url ~* '^https?://([^/@]*@)?(localhost\.?|\[[^]]*\]|[0-9.]+)(:|/|\?|#|$)';

-- When a delivery's pushes began to fail: a sender sees "push failing since …, attempt n" instead
-- of the recipient's error text, which names its host and port.
ALTER TABLE deliveries ADD COLUMN push_failing_since timestamptz;

UPDATE deliveries SET push_failing_since = COALESCE(failed_at, created_at)
 WHERE last_error IS NOT NULL AND attempts > 0;
