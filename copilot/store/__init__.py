"""The copilot's own tables and their stores (tokens, audit, feedback, conversations) and the schema migrations."""
