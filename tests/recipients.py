"""Recipient groups for daemon configs in tests and benchmarks: the groups the
example press-cell zone names (zones/press-cell.geojson), with fictional
+1 555 555 01xx numbers. No test dependencies, so bench/ can import it."""

GROUPS_TOML = """[alerts.groups.operators]
numbers = ["+15555550101", "+15555550102"]
[alerts.groups.supervisors]
numbers = ["+15555550111"]
[alerts.groups.safety]
numbers = ["+15555550121"]
"""
