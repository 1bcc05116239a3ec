"""The default provider: no network, the template's offline part, honest labels."""

from __future__ import annotations

import pytest

from copilot.core.settings import Settings
from copilot.llm.gateway import Gateway
from copilot.service.runtime import Runtime
from prompts import Registry
from tests.prompts.samples import SAMPLES


@pytest.mark.parametrize("locale", ["zh", "en"])
@pytest.mark.parametrize("template_id", sorted(SAMPLES))
def test_offline_answers_with_the_rendered_offline_part(template_id: str, locale: str) -> None:
    p = Registry.load().get(template_id, version=1, locale=locale).render(SAMPLES[template_id])
    result = Gateway.from_settings(Settings(llm_provider="offline")).run(p, names=["王建国"])

    assert result.text == p.offline_text and result.text.strip()
    assert (result.provider, result.model, result.degraded) == ("offline", "offline", False)
    assert result.template == f"{template_id}@1" and result.template_hash == p.hash
    assert result.masked == {}  # nothing leaves the process, so nothing is masked (王建国 stays readable)


def test_offline_stream_is_the_same_text() -> None:
    p = Registry.load().get("troubleshoot", version=1).render(SAMPLES["troubleshoot"])
    stream = Gateway.from_settings(Settings(llm_provider="offline")).stream(p)
    assert "".join(stream) == p.offline_text
    assert stream.result is not None and stream.result.provider == "offline"


def test_runtime_wires_registry_and_gateway(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime(Settings(llm_provider="offline", data_dir=tmp_path))
    assert rt.llm.is_offline
    assert "record_qa" in rt.prompts.ids()
    assert rt.llm is rt.llm and rt.prompts is rt.prompts  # built once per runtime
