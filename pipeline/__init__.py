"""Background processing: sources, streaming storage, rendering and the Dramatiq actors."""
