"""Reading what an organiser sends: a meeting series, a participant list, a network file, a command; every finding in their words."""
