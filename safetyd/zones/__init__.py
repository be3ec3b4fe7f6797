"""Hazard zones: the model, GeoJSON files and their checks, loading them per camera,
and arming by schedule."""
