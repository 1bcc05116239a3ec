"""Fixtures for the retriever tests: the fake OpenAI-compatible server (query translation)."""

from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture)
