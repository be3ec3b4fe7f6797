"""The configuration's schema (pydantic, unknown keys rejected, every field
described and bounded). A leaf: it imports nothing of safetyd but base.problems;
loading it with its zone files is assembly/'s."""
