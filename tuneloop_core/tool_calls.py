"""How a served model writes a tool call in its text: the one format inference constrains
generation to (where a chat template has none of its own) and the gateway parses back into
OpenAI `tool_calls`:

    <tool_call>{"name": "get_weather", "arguments": {"city": "臺北"}}</tool_call>
"""

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
