"""What an organiser does: the commands, status and export, and everything they send by mail."""
