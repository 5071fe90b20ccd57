-- Cabinet notifications leave once each for an e-mail/SMS gateway (routing key `cabinet.notify`).
-- A row is written in the transaction that makes the notification and deleted only in the
-- transaction that saw RabbitMQ confirm its publication: at least once, never lost in a crash.
CREATE TABLE cabinet_outbox (
    id              bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES cabinet_notifications (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
