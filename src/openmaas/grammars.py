"""Grammars that constrain what a model may generate: structured output and forced tool calls.

`grammar_for(spec, request)` turns a request into an llguidance grammar (JSON text) or None:

- `response_format` `json_object` → any JSON object; `json_schema` → JSON valid for the schema;
- `tool_choice` `required` or a named function → one or more calls in the model's own tool-call format
  (`hermes`: `<tool_call>{"name": …, "arguments": …}</tool_call>`; `json`: `{"name": …, "parameters": …}`),
  each call's arguments valid for its function's `parameters` schema.

The grammar is engine-neutral (llguidance is also vLLM's structured-output backend); engines that
sample themselves apply it as a token mask. A schema llguidance cannot compile is the client's error
(400), found before any call is counted.
"""

from __future__ import annotations

from typing import Any

import orjson

from openmaas.domain.chat import ChatRequest, ToolSpec
from openmaas.domain.errors import InvalidRequest
from openmaas.domain.models import ModelSpec

COMPACT = {"whitespace_flexible": False}  # no runs of whitespace between JSON tokens
MAX_PARALLEL_CALLS = 8


def _json(schema: dict[str, Any]) -> str:
    return orjson.dumps({**schema, "x-guidance": COMPACT}).decode()


def _call_schema(tool: ToolSpec, arguments_key: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": tool.name}, arguments_key: tool.parameters or {"type": "object"}},
        "required": ["name", arguments_key],
        "additionalProperties": False,
    }


def _tool_grammar(spec: ModelSpec, request: ChatRequest) -> str:
    choice = request.tool_choice
    tools = [t for t in request.tools if choice.name is None or t.name == choice.name]
    if spec.tool_parser == "json":
        schema = {"anyOf": [_call_schema(t, "parameters") for t in tools]}
        return f"start: %json {_json(schema)}\n"
    schema = {"anyOf": [_call_schema(t, "arguments") for t in tools]}
    repeat = f"{{1,{MAX_PARALLEL_CALLS}}}" if choice.parallel and choice.name is None else ""
    return f'start: call{repeat}\ncall: "<tool_call>\\n" %json {_json(schema)} "\\n</tool_call>\\n"\n'


def lark_for(spec: ModelSpec, request: ChatRequest) -> str | None:
    """The Lark grammar (with %json islands) for this request, or None when generation is free."""
    if request.tool_choice.mode == "required" and request.tools:
        if spec.tool_parser is None:
            raise InvalidRequest(
                f"The model {spec.id!r} does not support tool calling; tool_choice cannot force a call.",
                param="tool_choice",
            )
        return _tool_grammar(spec, request)
    fmt = request.response_format
    if fmt.kind == "json_object":
        return f"start: %json {_json({'type': 'object'})}\n"
    if fmt.kind == "json_schema" and fmt.schema is not None:
        return f"start: %json {_json(fmt.schema)}\n"
    return None


def grammar_for(spec: ModelSpec, request: ChatRequest) -> str | None:
    """The llguidance grammar for this request (validated), or None."""
    lark = lark_for(spec, request)
    if lark is None:
        return None
    import llguidance  # the grammar library is only needed when a request is constrained

    grammar = llguidance.grammar_from("lark", lark)
    error = llguidance.LLMatcher.validate_grammar(grammar)
    if error:
        param = "tools" if request.tool_choice.mode == "required" else "response_format"
        raise InvalidRequest(
            f"{param}: the schema cannot be used for constrained decoding: {error}", param=param
        )
    return grammar
