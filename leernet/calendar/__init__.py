"""iCalendar out (the series REQUEST and its CANCELs, VTIMEZONE) and iTIP REPLYs in."""
