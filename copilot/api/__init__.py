"""The HTTP surface (FastAPI)."""
