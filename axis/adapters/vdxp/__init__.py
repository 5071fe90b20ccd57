"""VDXP: the protocol of the national axis's client SDK (Java SDKVXP-2.0.x), served under /vdxp/ as a
thin translation onto the same service functions as /v1 (see docs/VDXP.md)."""
