"""The background loops of every hub process, each a supervised Worker (worker.py): the outbox
relay, the dispatcher (dispatch/), the audit chainer, the overdue watch, the PostgreSQL LISTEN
connection and the RabbitMQ connection; notice.py is the one shape of a message on the broker and
topology.py names and declares the broker's exchanges and queues."""
