"""The doors of the axis: `/v1` (api.py, its OpenAPI document in openapi.py), the clerks' pages
(pages/), the legacy SDK protocol `/vdxp` (vdxp/) and the body guard in front of them all
(bodies.py). Each turns the core's typed records into its own format and maps the core's domain
errors through one table of its own. Adapters never import axis.cli."""
