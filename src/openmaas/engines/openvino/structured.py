"""A constrained answer (`openmaas.grammars.Constraint`) as OpenVINO GenAI's structured output.

OpenVINO GenAI constrains sampling with xgrammar, configured by a structural tag (JSON): a JSON answer
is a grammar, tool calls are `<tool_call>` tags around a grammar, repeated up to the call limit. JSON is
written compact (", " and ": " between tokens, no runs of whitespace), as on the other engines: the
grammar of a JSON schema is xgrammar's own conversion with `any_whitespace=False`, mended where that
conversion lets characters JSON forbids into a string.

OpenVINO compiles the grammar inside its scheduling step, where a failure breaks the pipeline for every
request; so each structural tag is first compiled here with the same xgrammar release OpenVINO bundles
(the `xgrammar` Python package, `make install` installs it), and what xgrammar refuses is the client's
error (400), as llguidance's refusals are on the other engines.
"""

from __future__ import annotations

import json
from typing import Any

from openmaas.domain.errors import InvalidRequest
from openmaas.grammars import HERMES_CLOSE, HERMES_OPEN, Constraint, JsonAnswer, constraint_param

#: The xgrammar release openvino-genai 2026.4 is built with.
XGRAMMAR_VERSION = "0.1.31"


def structural_tag(constraint: Constraint) -> str:
    """The structural tag OpenVINO takes as `StructuredOutputConfig.compound_grammar`, checked."""
    param = constraint_param(constraint)
    try:
        import xgrammar
    except ImportError:
        raise InvalidRequest(
            f"{param}: constrained answers on this server's openvino engine need the `xgrammar` package "
            f"({XGRAMMAR_VERSION}), which is not installed; ask its operator to run `make install`.",
            param=param,
        ) from None
    try:
        tag = json.dumps({"type": "structural_tag", "format": _format(constraint, xgrammar)})
        xgrammar.Grammar.from_structural_tag(tag)
    except (RuntimeError, ValueError) as error:
        raise InvalidRequest(
            f"{param}: the schema cannot be used for constrained decoding: {error}", param=param
        ) from error
    return tag


def _format(constraint: Constraint, xgrammar: Any) -> dict[str, Any]:
    grammar = {"type": "grammar", "grammar": _json_grammar(constraint.schema, xgrammar)}
    if isinstance(constraint, JsonAnswer) or constraint.style == "json":
        return grammar
    call = {"type": "tag", "begin": HERMES_OPEN, "content": grammar, "end": HERMES_CLOSE}
    calls: dict[str, Any] = call
    for _ in range(constraint.max_calls - 1):  # one call, or one followed by up to max_calls - 1 more
        calls = {"type": "or", "elements": [call, {"type": "sequence", "elements": [call, calls]}]}
    return calls


#: xgrammar 0.1.31 writes a string with `maxLength` / `minLength` as characters of this class, which lets
#: control characters in (JSON forbids them unescaped) ...
_LENIENT_CHARACTER = r"[^\"\\\r\n]"
#: ... so they take its plain strings' class instead (no escapes inside a length-bounded string).
_JSON_CHARACTER = r"[^\0-\x1f\"\\]"


def _json_grammar(schema: dict[str, Any], xgrammar: Any) -> str:
    grammar = str(xgrammar.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False))
    return grammar.replace(_LENIENT_CHARACTER, _JSON_CHARACTER)
