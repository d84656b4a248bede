"""``python -m smart365`` runs the command line."""

from smart365.cli.main import app

app(prog_name="smart365")
