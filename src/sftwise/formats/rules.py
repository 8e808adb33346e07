"""The finding codes the format readers emit (SW100-SW119), and :func:`emit`, the one way to make a finding.

The readers see the raw bytes and the raw JSON, so encoding, syntax and field-level schema problems are
reported here; checks that need only the canonical :class:`~sftwise.conversation.Conversation`
(alternation, empty text, the final turn) live in ``sftwise.audit.schema`` (SW120-SW129).

Each code's severity is registered once with :func:`sftwise.findings.rule`; :func:`emit` looks it up,
so a code can never be reported with two different severities.
"""

from __future__ import annotations

from sftwise.findings import RULES, Finding, Severity, rule

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO


def emit(
    code: str,
    message: str,
    hint: str = "",
    file: str | None = None,
    line: int | None = None,
    column: int | None = None,
    field: str | None = None,
) -> Finding:
    """A :class:`Finding` for a registered code, with the code's registered severity."""
    return Finding(
        code=code, severity=RULES[code].severity, message=message, hint=hint, file=file, line=line, column=column, field=field
    )


rule("SW100", "invalid-json", E, "A line (or the whole .json file) is not valid JSON; the message gives line and column.",
     "Tuning services reject the whole file on the first unparsable line, after the upload.",
     'train.jsonl:7:31: SW100 [error] not valid JSON (unexpected end of data)')
rule("SW101", "not-an-object", E, "A record is valid JSON but not a JSON object (a list, string or number).",
     "Every tuning format is one JSON object per example.", '["hello", "world"] on a line of its own')
rule("SW102", "unknown-field", W, "A field that the record's format does not define (a typo such as 'content' for 'contents', or an extra key).",
     "Vertex AI and OpenAI validate strictly; a misspelt field is also a field whose data is silently ignored.",
     '{"contents": [...], "id": 7} in Gemini JSONL')
rule("SW103", "missing-field", E, "A required field is missing: contents, parts, role, text, messages, content, output...",
     "An example without its turns or its text teaches nothing and is rejected by the tuning service.",
     '{"contents": [{"role": "user"}]} (no parts)')
rule("SW104", "wrong-type", E, "A field has the wrong JSON type (a string where a list of parts is expected, a number as text...).",
     "The service rejects such records; other tools may coerce them silently into something else.",
     '{"contents": "hello"}')
rule("SW105", "wrong-role", E, "A role the format does not accept ('assistant' in Gemini JSONL, 'model' in OpenAI messages, 'bot', 'tool').",
     "Gemini accepts only user and model in contents; OpenAI only system, user, assistant. The turn is mapped when the intent is clear, but the file must be fixed.",
     '{"role": "assistant", ...} inside Gemini contents')
rule("SW106", "system-misplaced", E, "A system instruction in the wrong place: a system turn inside Gemini contents, or a system message that is not the first message.",
     "Gemini takes the system instruction only in systemInstruction; chat templates put the system message first, so a later one is dropped or mis-rendered.",
     '{"contents": [{"role": "system", ...}]}')
rule("SW107", "mixed-formats", E, "Records of different formats in one file (some Gemini, some OpenAI messages...).",
     "A tuning service reads one format per file; a mixed file usually means two sources were concatenated without conversion.",
     "line 1 is Gemini JSONL, line 40 is {\"messages\": [...]}")
rule("SW108", "not-utf8", E, "Bytes that are not valid UTF-8 (the file was saved as Latin-1 or Windows-1252).",
     "The JSON standard requires UTF-8; services reject the file or replace the characters with U+FFFD.",
     "caf\\xe9 saved in Latin-1")
rule("SW109", "bom", W, "The file starts with a UTF-8 byte-order mark.",
     "Strict JSON readers (including some upload validators) fail on the first line because of it.",
     "EF BB BF at the start of train.jsonl")
rule("SW110", "crlf", I, "Windows line endings (CRLF).",
     "Harmless to JSON, but a sign the file was edited by hand or exported by a spreadsheet; check it was not changed in other ways.")
rule("SW111", "truncated", E, "The last line is cut short (no final newline and not valid JSON).",
     "The file was cut by an interrupted download or write; the last example is lost and others may be too.")
rule("SW112", "json-array-in-jsonl", E, "A JSON array where JSON Lines is expected (or JSON Lines in a .json file).",
     "Gemini and OpenAI tuning want one object per line; a .jsonl upload holding one big array is rejected.",
     "train.jsonl starting with '[{\"contents\": ...'")
rule("SW113", "empty-file", E, "The file holds no records (empty, only blank lines, or a CSV with only a header).",
     "There is nothing to tune on; usually a wrong path or a failed export.")
rule("SW114", "binary-or-unreadable", E, "The file is binary (compressed, an image, a spreadsheet) or cannot be read as its type.",
     "Only .jsonl, .json, .csv and .parquet text data can be read.", "train.jsonl that is really train.jsonl.gz")
rule("SW115", "unknown-format", E, "A record matches none of the known formats (gemini, messages, prompt_completion, alpaca, sharegpt).",
     "Nothing in it can be mapped to user and model turns.", '{"question": "...", "answer": "..."} (convert with --map question=prompt --map answer=completion)')
rule("SW116", "huge-record", W, "A single record larger than 1 MB.",
     "Such records are almost always a mistake (a whole document pasted as one example) and will exceed every context window.")
rule("SW117", "blank-lines", I, "Blank lines between records.", "They are skipped, but some strict validators reject them.")
rule("SW118", "unsupported-part", W, "A part kind sftwise does not carry (functionCall, functionResponse, inlineData); it is dropped from the canonical form.",
     "Converting the file would lose it; Vertex tuning also rejects inline data (use gs:// fileData).")
rule("SW119", "reader-bug", E, "A record whose structure made the reader fail unexpectedly; it is skipped.",
     "This is a bug in sftwise (a reader must turn every problem into a specific finding): please report it with the record.")
