"""The operator console: a web application with login and roles, served by the
daemon on its own port (the cheap /metrics and /healthz endpoint stays as it is)."""
