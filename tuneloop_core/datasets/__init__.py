"""Dataset formats accepted everywhere: read, validate and write training data.

Alpaca, ShareGPT, OpenAI chat messages and prompt/completion records (SFT), and OpenAI's
preference JSONL and LLaMA-Factory's Alpaca/ShareGPT pairwise records (preference pairs,
for DPO), as a JSON array or JSONL (UTF-8, BOM or not), detected per file, plus
LLaMA-Factory `dataset_info.json` entries. SFT records are read into `Conversation`s,
preference records into `PreferencePair`s; a file holds one kind. `validate_dataset`
reports every bad record with its line and reason, and the file's kind. The trainer,
datagen and the evaluator all use this. Reading for training, all or nothing:

    load_conversations(path, *, schema=None, param="training_file") -> list[Conversation]
    read_preference_pairs(path, *, schema=None, param="training_file") -> list[PreferencePair]

Both raise `InvalidRequestError(param=param, code="invalid_file_format")` for a file of the
other kind, a file mixing the kinds, or any bad record.
"""

from tuneloop_core.datasets.conversation import (
    Container,
    Conversation,
    DatasetFormat,
    DatasetKind,
    PreferencePair,
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
    AlpacaPairSchema,
    AlpacaSchema,
    ChatPairSchema,
    ChatSchema,
    OpenAIPreferenceSchema,
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
    read_preference_pairs,
    require_kind,
    validate_dataset,
)
from tuneloop_core.datasets.writers import (
    preference_line,
    to_alpaca,
    to_openai,
    to_prompt_completion,
    to_sharegpt,
    write_alpaca,
    write_dataset,
    write_openai_jsonl,
    write_preference_jsonl,
    write_sharegpt,
)

__all__ = [
    "NATIVE_SCHEMAS",
    "TOKEN_BINS",
    "AlpacaPairSchema",
    "AlpacaSchema",
    "ChatPairSchema",
    "ChatSchema",
    "Container",
    "Conversation",
    "Dataset",
    "DatasetFormat",
    "DatasetKind",
    "DatasetStream",
    "HistogramBin",
    "IssueCode",
    "LengthStats",
    "LlamaFactoryDataset",
    "OpenAIPreferenceSchema",
    "PreferencePair",
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
    "preference_line",
    "raise_for_report",
    "read_dataset",
    "read_preference_pairs",
    "require_kind",
    "to_alpaca",
    "to_openai",
    "to_prompt_completion",
    "to_sharegpt",
    "validate_dataset",
    "write_alpaca",
    "write_dataset",
    "write_openai_jsonl",
    "write_preference_jsonl",
    "write_sharegpt",
]
