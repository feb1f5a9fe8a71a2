"""Every write the pipeline makes goes through these keyword-only service functions."""
