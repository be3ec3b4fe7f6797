"""The configuration: its model (pydantic, unknown keys rejected), loading it with
its zone files, and what each camera is run with."""
