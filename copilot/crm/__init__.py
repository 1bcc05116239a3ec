"""The CRM's own data: the model, the database session, and the one permission policy."""
