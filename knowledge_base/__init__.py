"""Loaders, chunking and indexing of knowledge-base documents; the demo corpus lives in corpus/."""
