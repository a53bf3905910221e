"""Dataset formats accepted everywhere: read, validate and write training data.

Alpaca, ShareGPT, OpenAI chat messages and prompt/completion records, as a JSON array or
JSONL (UTF-8, BOM or not), detected per file, plus LLaMA-Factory `dataset_info.json`
entries. Everything is read into `Conversation`s; `validate_dataset` reports every bad
record with its line and reason. The trainer, datagen and the evaluator all use this.
"""

from tuneloop_core.datasets.conversation import (
    Container,
    Conversation,
    DatasetFormat,
    Role,
    Turn,
)
from tuneloop_core.datasets.llamafactory import (
    LlamaFactoryDataset,
    llamafactory_dataset,
    llamafactory_entry,
    llamafactory_schema,
    load_dataset_info,
)
from tuneloop_core.datasets.problems import IssueCode, RecordIssue
from tuneloop_core.datasets.reader import Dataset, DatasetStream, read_dataset
from tuneloop_core.datasets.schemas import (
    NATIVE_SCHEMAS,
    AlpacaSchema,
    ChatSchema,
    RecordSchema,
    guess_format,
)
from tuneloop_core.datasets.stats import (
    TOKEN_BINS,
    HistogramBin,
    LengthStats,
    TokenCounter,
    TokenStats,
)
from tuneloop_core.datasets.validation import (
    ValidationReport,
    load_conversations,
    raise_for_report,
    validate_dataset,
)
from tuneloop_core.datasets.writers import (
    to_alpaca,
    to_openai,
    to_prompt_completion,
    to_sharegpt,
    write_alpaca,
    write_dataset,
    write_openai_jsonl,
    write_sharegpt,
)

__all__ = [
    "NATIVE_SCHEMAS",
    "TOKEN_BINS",
    "AlpacaSchema",
    "ChatSchema",
    "Container",
    "Conversation",
    "Dataset",
    "DatasetFormat",
    "DatasetStream",
    "HistogramBin",
    "IssueCode",
    "LengthStats",
    "LlamaFactoryDataset",
    "RecordIssue",
    "RecordSchema",
    "Role",
    "TokenCounter",
    "TokenStats",
    "Turn",
    "ValidationReport",
    "guess_format",
    "llamafactory_dataset",
    "llamafactory_entry",
    "llamafactory_schema",
    "load_conversations",
    "load_dataset_info",
    "raise_for_report",
    "read_dataset",
    "to_alpaca",
    "to_openai",
    "to_prompt_completion",
    "to_sharegpt",
    "validate_dataset",
    "write_alpaca",
    "write_dataset",
    "write_openai_jsonl",
    "write_sharegpt",
]
