"""The model gateway: providers (offline default, any OpenAI-compatible endpoint), PII masking, trust layer.

LangChain interop lives in ``copilot.llm.langchain`` and is never imported from here, so the request
path does not pay for ``langchain_core``.
"""

from copilot.llm.errors import ProviderError
from copilot.llm.gateway import Gateway, GatewayStream, LLMResult
from copilot.llm.offline import OfflineProvider
from copilot.llm.pii import Masker
from copilot.llm.provider import Provider
from copilot.llm.types import Completion, CompletionOptions

__all__ = [
    "Completion",
    "CompletionOptions",
    "Gateway",
    "GatewayStream",
    "LLMResult",
    "Masker",
    "OfflineProvider",
    "Provider",
    "ProviderError",
]
