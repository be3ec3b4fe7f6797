"""The plant's MQTT broker: events, live state, commands, discovery, the fleet."""
