"""Writes to documents go through these keyword-only functions."""
