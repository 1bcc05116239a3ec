"""The ``crm-copilot`` command: thin typer wrappers over library code."""
