"""The service: the runtime (composition root) and the one checked turn every surface goes through."""
