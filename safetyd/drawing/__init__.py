"""Drawing zones, regions and people on frames: previews, annotated replays and
snapshots."""
