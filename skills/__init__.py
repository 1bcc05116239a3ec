"""The skill contract, the router, and one module per skill."""
