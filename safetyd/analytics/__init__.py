"""Near-miss analytics: figures from the event record (figures.py, pure), read from
the state database (read.py), where warnings fired as pictures (heat.py), the
near-miss record for exports (records.py) and the weekly digest (digest.py)."""
