"""The network: its domain model, the file that describes it, the defaults from the seed, and what an update changes."""
