"""The teacher's prompts, in Traditional Chinese (Taiwan usage) and English. Each asks for
JSON only, so answers can be parsed; a malformed answer is asked again."""

from __future__ import annotations

from services.datagen.generation.spec import Language

GENERATE = {
    "zh-TW": (
        "你是資料集編寫助手。請只根據下列文件段落，用繁體中文（臺灣用語）寫出 {n} 組問答。"
        "每個問題要能單靠這段文字回答，答案要完整、正確，不可加入段落以外的資訊。"
        "{reasoning}"
        '只輸出 JSON：{{"pairs": [{{"question": "…", "answer": "…"{reasoning_field}}}]}}\n\n'
        "段落（出處：{source}）：\n{chunk}"
    ),
    "en": (
        "You write training data. Using only the passage below, write {n} question-answer "
        "pairs in English. Each question must be answerable from the passage alone; each "
        "answer complete, correct and without outside information. {reasoning}"
        'Output JSON only: {{"pairs": [{{"question": "…", "answer": "…"{reasoning_field}}}]}}'
        "\n\nPassage (source: {source}):\n{chunk}"
    ),
}
REASONING = {
    "zh-TW": "每組另附一句「reasoning」說明答案在段落中的依據。",
    "en": "Add a one-sentence 'reasoning' saying where the passage supports the answer. ",
}
JUDGE = {
    "zh-TW": (
        "請評分下列問答，0 到 5 分（整數）：問題品質、答案品質、與段落的相關性、答案與段落"
        '是否一致。只輸出 JSON：{{"score": 0-5, "reason": "一句話"}}\n\n'
        "段落：\n{chunk}\n\n問題：{question}\n答案：{answer}"
    ),
    "en": (
        "Score this question-answer pair from 0 to 5 (an integer) for question quality, "
        "answer quality, relevance to the passage and consistency with it. Output JSON only: "
        '{{"score": 0-5, "reason": "one sentence"}}\n\n'
        "Passage:\n{chunk}\n\nQuestion: {question}\nAnswer: {answer}"
    ),
}
REFINE = {
    "zh-TW": (
        "下列問答品質不佳（{reason}）。請只根據段落改寫成更好的一組問答，用繁體中文。"
        '只輸出 JSON：{{"question": "…", "answer": "…"}}\n\n'
        "段落：\n{chunk}\n\n問題：{question}\n答案：{answer}"
    ),
    "en": (
        "This question-answer pair is weak ({reason}). Rewrite it into a better pair using "
        'only the passage. Output JSON only: {{"question": "…", "answer": "…"}}\n\n'
        "Passage:\n{chunk}\n\nQuestion: {question}\nAnswer: {answer}"
    ),
}


def generate_prompt(language: Language, n: int, chunk: str, source: str, reasoning: bool) -> str:
    return GENERATE[language].format(
        n=n,
        chunk=chunk,
        source=source,
        reasoning=REASONING[language] if reasoning else "",
        reasoning_field=', "reasoning": "…"' if reasoning else "",
    )


def judge_prompt(language: Language, chunk: str, question: str, answer: str) -> str:
    return JUDGE[language].format(chunk=chunk, question=question, answer=answer)


def refine_prompt(language: Language, chunk: str, question: str, answer: str, reason: str) -> str:
    return REFINE[language].format(chunk=chunk, question=question, answer=answer, reason=reason)
