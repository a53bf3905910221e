"""The teacher's prompts, in Traditional Chinese (Taiwan usage) and English. Each shows the
JSON it wants: a served teacher is held to it by the schema sent beside the prompt, an
endpoint that decodes freely has only the prompt to go by."""

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

GROUNDED = {
    "zh-TW": (
        "你是資料集編寫助手。下面的「答案」摘自文件（出處：{source}）。請為這個答案寫出 {n} "
        "個問法不同的問題，每個問題都要能用這個答案回答，用繁體中文（臺灣用語）。\n"
        '例：答案「令用於公布法律。」→ {{"q1": "請問令用於什麼？", "q2": "令有哪些用途？"}}\n'
        "只輸出 JSON：{keys}\n\n答案：{answer}"
    ),
    "en": (
        "You write training data. The answer below is quoted from a document (source: "
        "{source}). Write {n} differently worded questions that this answer answers, in "
        'English.\nExample: answer "An order is signed by the head." → {{"q1": "Who is '
        'responsible for an order?", "q2": "What is required for an order?"}}\n'
        "Output JSON only: {keys}\n\nAnswer: {answer}"
    ),
}
REFINE_QUESTION = {
    "zh-TW": (
        "下列問題與答案不夠相符（{reason}）。請為這個答案另寫一個更好的問題，用繁體中文。"
        '只輸出 JSON：{{"question": "…"}}\n\n答案：{answer}\n原問題：{question}'
    ),
    "en": (
        "This question does not fit its answer well ({reason}). Write a better question for "
        'the answer. Output JSON only: {{"question": "…"}}\n\nAnswer: {answer}\n'
        "Old question: {question}"
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


def grounded_prompt(language: Language, n: int, answer: str, source: str) -> str:
    keys = ", ".join(f'"q{i + 1}": "…"' for i in range(n))
    return GROUNDED[language].format(n=n, answer=answer, source=source, keys="{" + keys + "}")


def refine_question_prompt(language: Language, question: str, answer: str, reason: str) -> str:
    return REFINE_QUESTION[language].format(question=question, answer=answer, reason=reason)
