"""The web client's files, served by the server at `/` (server/web.py); no Python here."""
