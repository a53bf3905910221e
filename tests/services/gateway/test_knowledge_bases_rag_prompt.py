"""How a RAG prompt is built: the question's language, numbered chunks with their sources,
the caller's own system message kept."""

from __future__ import annotations

import pytest

from services.gateway.chat.protocol import ChatCompletionRequest
from services.gateway.knowledge_bases.protocol import KnowledgeBaseRef
from services.gateway.rag import SourceRef, language, question, reference, with_context
from tuneloop_core.errors import InvalidRequestError


def ref(index: int, text: str, page: int | None = None) -> SourceRef:
    return SourceRef(
        index=index,
        score=0.8,
        text=text,
        document="gongwen.md",
        file_id="file-1",
        page=page,
        heading_path=["公文", "函", "主旨"],
        chunk_index=0,
    )


def request(*messages: tuple[str, str], kb: object = "kb-1") -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [{"role": r, "content": c} for r, c in messages],
            "knowledge_base": kb,
        }
    )


@pytest.mark.parametrize(
    ("text", "lang"),
    [("主旨怎麼寫？", "zh"), ("What is 主旨?", "zh"), ("How do I bake bread?", "en"), ("", "en")],
)
def test_language_follows_the_question(text: str, lang: str) -> None:
    assert language(text) == lang


def test_chunks_are_numbered_with_their_sources_in_the_questions_language() -> None:
    req = request(("user", "主旨怎麼寫？"))
    messages = with_context(req, [ref(1, "主旨應簡明扼要。", page=3), ref(2, "說明分項。")], "zh")
    assert [m.role for m in messages] == ["system", "user"]
    system = messages[0].text()
    assert "繁體中文" in system and "資料中未提及。" in system
    assert "[1] (來源: gongwen.md, 第 3 頁, 公文 > 函 > 主旨)\n主旨應簡明扼要。" in system
    assert "[2] (來源: gongwen.md, 公文 > 函 > 主旨)\n說明分項。" in system
    english = with_context(request(("user", "Subject line?")), [ref(1, "text")], "en")
    assert "Not in the documents." in english[0].text()
    assert "[1] (source: gongwen.md, 公文 > 函 > 主旨)" in english[0].text()


def test_the_callers_system_message_is_merged_first() -> None:
    req = request(
        ("system", "請簡短回答。"), ("user", "早"), ("assistant", "早安"), ("user", "主旨？")
    )
    messages = with_context(req, [ref(1, "x")], "zh")
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0].text().startswith("請簡短回答。\n\n請只根據下列資料")
    assert question(req) == "主旨？"  # the last user message is what is searched


def test_the_knowledge_base_field_takes_an_id_or_options() -> None:
    assert reference(request(("user", "q"))) == KnowledgeBaseRef(id="kb-1")
    long = request(("user", "q"), kb={"id": "kb-2", "top_k": 2, "score_threshold": 0.7})
    assert reference(long) == KnowledgeBaseRef(id="kb-2", top_k=2, score_threshold=0.7)
    with pytest.raises(InvalidRequestError):
        question(request(("system", "only a system message")))
