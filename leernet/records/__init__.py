"""Records: the only code that reads and writes the store's network data (networks, replies, facts)."""
