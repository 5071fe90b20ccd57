"""Benchmarks of the running hub: `axis bench axis` measures the whole path of a letter beside a raw
RabbitMQ baseline, in a sandbox of its own that leaves the operator's data untouched."""
