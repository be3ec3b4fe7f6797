"""The hazard core (pure): people against zones (hazards, outlines), incidents and
their transitions, the alert lifecycle (acknowledge, escalate, snooze: one function
per action for every way in), the event record, and the snapshot of each event."""
