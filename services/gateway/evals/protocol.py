"""Request and object shapes of `/v1/evals` and the graders endpoints: OpenAI's Evals API,
as the official SDK sends and reads them. Unknown fields are accepted (the SDK and newer
clients send more than Tuneloop uses); what Tuneloop cannot do is refused by name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.sampling import Seed
from tuneloop_core.jobspecs import eval_run as bounds

Metadata = dict[str, str] | None


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(_Open):
    """A content part of a templated message: text (input_text or output_text) only."""

    type: Literal["input_text", "output_text", "text"] = "input_text"
    text: str


class TemplateMessage(_Open):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | ContentPart | list[ContentPart]
    type: Literal["message"] | None = None

    def text(self) -> str:
        content = self.content
        if isinstance(content, str):
            return content
        parts = content if isinstance(content, list) else [content]
        return "".join(part.text for part in parts)


class SamplingParams(_Open):
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    max_completions_tokens: int | None = Field(None, ge=1, le=8192)  # the grader's spelling
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: Seed | None = None


class StringCheckGrader(_Open):
    type: Literal["string_check"]
    name: str = Field(min_length=1, max_length=200)
    input: str
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]


class TextSimilarityGrader(_Open):
    type: Literal["text_similarity"]
    name: str = Field(min_length=1, max_length=200)
    input: str
    reference: str
    evaluation_metric: Literal[bounds.SIMILARITY_METRICS]  # type: ignore[valid-type]
    pass_threshold: float = Field(0.5, ge=0, le=1)


class ScoreModelGrader(_Open):
    type: Literal["score_model"]
    name: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1)
    input: list[TemplateMessage] = Field(min_length=1)
    range: list[float] | None = Field(None, min_length=2, max_length=2)
    pass_threshold: float | None = None
    sampling_params: SamplingParams | None = None


class LabelModelGrader(_Open):
    type: Literal["label_model"]
    name: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1)
    input: list[TemplateMessage] = Field(min_length=1)
    labels: list[str] = Field(min_length=2, max_length=64)
    passing_labels: list[str] = Field(min_length=1)
    sampling_params: SamplingParams | None = None


class PythonGrader(_Open):
    type: Literal["python"]
    name: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    image_tag: str | None = None
    pass_threshold: float | None = None


SimpleGrader = Annotated[
    StringCheckGrader | TextSimilarityGrader | ScoreModelGrader | LabelModelGrader | PythonGrader,
    Field(discriminator="type"),
]


class MultiGrader(_Open):
    type: Literal["multi"]
    name: str = Field(min_length=1, max_length=200)
    # OpenAI's documented shape is a map of name → grader; its SDK also types one grader.
    graders: dict[str, SimpleGrader] | SimpleGrader
    calculate_output: str = Field(min_length=1, max_length=1000)
    pass_threshold: float | None = None


AnyGrader = Annotated[
    StringCheckGrader
    | TextSimilarityGrader
    | ScoreModelGrader
    | LabelModelGrader
    | PythonGrader
    | MultiGrader,
    Field(discriminator="type"),
]


class CustomDataSourceConfig(_Open):
    type: Literal["custom"]
    item_schema: dict[str, Any]
    include_sample_schema: bool = False


class CreateEvalRequest(_Open):
    name: str | None = Field(None, max_length=500)
    data_source_config: dict[str, Any]
    testing_criteria: list[AnyGrader] = Field(min_length=1, max_length=bounds.MAX_CRITERIA)
    metadata: Metadata = None


class UpdateEvalRequest(_Open):
    name: str | None = Field(None, max_length=500)
    metadata: Metadata = None


class EvalObject(BaseModel):
    id: str
    object: Literal["eval"] = "eval"
    created_at: int
    name: str
    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]]
    metadata: Metadata = None


class EvalDeleted(BaseModel):
    object: Literal["eval.deleted"] = "eval.deleted"
    deleted: bool = True
    eval_id: str


class FileContentRow(_Open):
    item: dict[str, Any]
    sample: dict[str, Any] | None = None


class FileContentSource(_Open):
    type: Literal["file_content"]
    content: list[FileContentRow] = Field(min_length=1, max_length=bounds.MAX_ROWS)


class FileIdSource(_Open):
    type: Literal["file_id"]
    id: str = Field(min_length=1)


RowsSource = Annotated[FileContentSource | FileIdSource, Field(discriminator="type")]


class TemplateInput(_Open):
    type: Literal["template"]
    template: list[TemplateMessage] = Field(min_length=1)


class ItemReferenceInput(_Open):
    type: Literal["item_reference"]
    item_reference: str = Field(min_length=1)


class CompletionsDataSource(_Open):
    type: Literal["completions"]
    model: str = Field(min_length=1)
    input_messages: Annotated[TemplateInput | ItemReferenceInput, Field(discriminator="type")]
    sampling_params: SamplingParams | None = None
    source: RowsSource


class JsonlDataSource(_Open):
    type: Literal["jsonl"]
    source: RowsSource


class CreateRunRequest(_Open):
    name: str | None = Field(None, max_length=500)
    data_source: Annotated[CompletionsDataSource | JsonlDataSource, Field(discriminator="type")]
    metadata: Metadata = None


class ResultCounts(BaseModel):
    total: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0


class CriterionResult(BaseModel):
    testing_criteria: str
    passed: int
    failed: int


class ModelUsage(BaseModel):
    model_name: str
    invocation_count: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int = 0


class RunError(BaseModel):
    code: str
    message: str


class RunObject(BaseModel):
    id: str
    object: Literal["eval.run"] = "eval.run"
    created_at: int
    eval_id: str
    name: str
    model: str | None
    status: Literal["queued", "in_progress", "completed", "failed", "canceled"]
    data_source: dict[str, Any]
    metadata: Metadata = None
    result_counts: ResultCounts
    per_testing_criteria_results: list[CriterionResult]
    per_model_usage: list[ModelUsage]
    report_url: str | None
    error: RunError | None = None
    progress: dict[str, Any] | None = None  # Tuneloop: {"stage", "done", "total"} while running


class RunDeleted(BaseModel):
    object: Literal["eval.run.deleted"] = "eval.run.deleted"
    deleted: bool = True
    run_id: str


class OutputItemObject(BaseModel):
    id: str
    object: Literal["eval.run.output_item"] = "eval.run.output_item"
    created_at: int
    eval_id: str
    run_id: str
    datasource_item_id: int
    datasource_item: dict[str, Any]
    status: Literal["pass", "fail", "error"]
    results: list[dict[str, Any]]
    sample: dict[str, Any]


class Page(BaseModel):
    object: Literal["list"] = "list"
    data: list[Any]
    first_id: str | None
    last_id: str | None
    has_more: bool


class GraderRunRequest(_Open):
    grader: AnyGrader
    model_sample: str
    item: dict[str, Any] | None = None


class GraderValidateRequest(_Open):
    grader: AnyGrader
