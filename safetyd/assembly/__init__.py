"""From the configuration to what runs: loading safetyd.toml with its zone files and
users file (every problem named), and the typed settings each camera is run with.
Above config/ (the schema, a leaf) and zones/; below the parts that run."""
