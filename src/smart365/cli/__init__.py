"""Command line (Typer + Rich): composes features' services, holds no domain logic."""
