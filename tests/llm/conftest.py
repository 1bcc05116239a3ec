from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture for this package)
