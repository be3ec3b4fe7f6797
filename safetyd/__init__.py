"""safetyd: factory safety daemon (pose estimation → hazard zones → SMS alerts)."""

__version__ = "0.1.0"
