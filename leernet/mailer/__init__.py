"""The wire: MIME, headers, reply tokens, SMTP and the outbox, IMAP and the inbox, OAuth2."""
