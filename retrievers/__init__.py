"""Embedding, the vector store, hybrid search and CRM-record retrieval, all permission-filtered."""
