"""The core of the axis: the ledger (the one owner of a letter's tables), the service functions
that every door calls (ingest, statuses, delivery, agencies, users, audit) and their domain
errors. The core speaks no HTTP and runs no loop: it never imports axis.adapters, axis.workers
or axis.cli."""
