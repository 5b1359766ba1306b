"""Operating the service: health, the systemd watchdog, the OAuth2 login check."""
