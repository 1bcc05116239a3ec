"""Fixtures shared by the skill tests: the fake OpenAI-compatible server and the writing-skills demo org."""

from tests.fakes.openai_server import fake_openai  # noqa: F401
from tests.skills.skill_support import skills_runtime  # noqa: F401
