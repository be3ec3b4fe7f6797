"""Alert delivery: durable outbox, sinks (Twilio SMS, webhook, log), storm control."""
