"""Fixtures for tests of the fakes themselves; other packages import ``fake_openai`` the same way."""

from tests.fakes.openai_server import fake_openai  # noqa: F401
