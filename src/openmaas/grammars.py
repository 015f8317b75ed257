"""Grammars that constrain what a model may generate: structured output and forced tool calls.

`grammar_for(spec, request)` turns a request into an llguidance grammar (JSON text) or None:

- `response_format` `json_object` → any JSON object; `json_schema` → JSON valid for the schema;
- `tool_choice` `required` or a named function → one or more calls in the model's own tool-call format
  (`hermes`: `<tool_call>{"name": …, "arguments": …}</tool_call>`; `json`: `{"name": …, "parameters": …}`),
  each call's arguments valid for its function's `parameters` schema.

`constraint_for` decides what the answer must look like (a `Constraint`, independent of any grammar
library); `lark_for` writes it as Lark, which llguidance compiles (llguidance is also vLLM's
structured-output backend), and engines with another backend translate the `Constraint` themselves (the
OpenVINO engine: `engines/openvino/structured.py`). Engines that sample themselves apply it as a mask.
A schema llguidance cannot compile is the client's error (400), found before any call is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from openmaas.domain.chat import ChatRequest, ToolSpec
from openmaas.domain.errors import InvalidRequest
from openmaas.domain.models import ModelSpec

COMPACT = {"whitespace_flexible": False}  # no runs of whitespace between JSON tokens
MAX_PARALLEL_CALLS = 8
#: What a `hermes` tool call looks like around its JSON.
HERMES_OPEN, HERMES_CLOSE = "<tool_call>\n", "\n</tool_call>\n"


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """The answer is one JSON value valid for `schema`."""

    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The answer is tool calls in the model's format: `hermes` (1 to `max_calls` calls, each
    `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>\n`) or `json` (one bare call object,
    `{"name": …, "parameters": …}`). `schema` is what the JSON of one call must satisfy."""

    style: Literal["hermes", "json"]
    schema: dict[str, Any]
    max_calls: int = 1


Constraint = JsonAnswer | ToolCalls
"""What a constrained answer must look like, independent of any grammar library."""


def call_schema(tool: ToolSpec, arguments_key: str) -> dict[str, Any]:
    """The JSON schema of one call of `tool`, its arguments under `arguments_key`."""
    return {
        "type": "object",
        "properties": {"name": {"const": tool.name}, arguments_key: tool.parameters or {"type": "object"}},
        "required": ["name", arguments_key],
        "additionalProperties": False,
    }


def _tool_calls(spec: ModelSpec, request: ChatRequest) -> ToolCalls:
    choice = request.tool_choice
    tools = [t for t in request.tools if choice.name is None or t.name == choice.name]
    if spec.tool_parser == "json":
        return ToolCalls("json", {"anyOf": [call_schema(t, "parameters") for t in tools]})
    parallel = choice.parallel and choice.name is None
    schema = {"anyOf": [call_schema(t, "arguments") for t in tools]}
    return ToolCalls("hermes", schema, MAX_PARALLEL_CALLS if parallel else 1)


def constraint_for(spec: ModelSpec, request: ChatRequest) -> Constraint | None:
    """What this request's answer must look like, or None when generation is free."""
    if request.tool_choice.mode == "required" and request.tools:
        if spec.tool_parser is None:
            raise InvalidRequest(
                f"The model {spec.id!r} does not support tool calling; tool_choice cannot force a call.",
                param="tool_choice",
            )
        return _tool_calls(spec, request)
    fmt = request.response_format
    if fmt.kind == "json_object":
        return JsonAnswer({"type": "object"})
    if fmt.kind == "json_schema" and fmt.schema is not None:
        return JsonAnswer(fmt.schema)
    return None


def constraint_param(constraint: Constraint) -> str:
    """The request field a constraint comes from, for error messages."""
    return "tools" if isinstance(constraint, ToolCalls) else "response_format"


def _json(schema: dict[str, Any]) -> str:
    return orjson.dumps({**schema, "x-guidance": COMPACT}).decode()


def lark_for(spec: ModelSpec, request: ChatRequest) -> str | None:
    """The Lark grammar (with %json islands) for this request, or None when generation is free."""
    constraint = constraint_for(spec, request)
    if constraint is None:
        return None
    if isinstance(constraint, JsonAnswer) or constraint.style == "json":
        return f"start: %json {_json(constraint.schema)}\n"
    repeat = f"{{1,{constraint.max_calls}}}" if constraint.max_calls > 1 else ""
    opening, closing = orjson.dumps(HERMES_OPEN).decode(), orjson.dumps(HERMES_CLOSE).decode()
    return f"start: call{repeat}\ncall: {opening} %json {_json(constraint.schema)} {closing}\n"


def grammar_for(spec: ModelSpec, request: ChatRequest) -> str | None:
    """The llguidance grammar for this request (validated), or None."""
    lark = lark_for(spec, request)
    if lark is None:
        return None
    import llguidance  # the grammar library is only needed when a request is constrained

    grammar = llguidance.grammar_from("lark", lark)
    error = llguidance.LLMatcher.validate_grammar(grammar)
    if error:
        param = "tools" if request.tool_choice.mode == "required" and request.tools else "response_format"
        raise InvalidRequest(
            f"{param}: the schema cannot be used for constrained decoding: {error}", param=param
        )
    return grammar
