"""A day's figures, shared by the reporter and the dashboard: the facts models and their pure
helpers (facts.py), loading them from PostgreSQL (load.py), and showing numbers and names the
one way reports and pages both use (display.py)."""
