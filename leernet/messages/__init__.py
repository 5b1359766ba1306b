"""Messages: the factory, the context of every kind, rendering, notices and text formatting."""
