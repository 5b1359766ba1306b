"""leernet: learning networks (lerende netwerken) run over email and calendars."""
