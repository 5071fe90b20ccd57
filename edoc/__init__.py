"""edoc."""
