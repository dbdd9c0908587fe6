"""Faults the broker must survive: each row of docs/reliability.md has its test here."""
