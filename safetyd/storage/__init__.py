"""The SQLite state database: incident events, the outbox, the lifecycle ledger."""
