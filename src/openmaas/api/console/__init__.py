"""The web console: its static files (`static.py`, served at `/`) and the self-service API it needs
beyond the public one (`account.py`, under `/console/api/`: who am I, my tokens, the personas)."""
