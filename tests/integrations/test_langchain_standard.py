"""LangChain's own standard test suites (`langchain-tests`) for `ModelScopeChatEndpoint`.

The unit suite runs whole. The integration suite runs against a real `openmaas serve` on a scripted
engine that answers any prompt with a fixed echo; the tests that need a model to understand the prompt —
choosing a tool and its arguments from the question, filling arbitrary schemas — are switched off through
the suite's own capability flags (`has_tool_calling`, `has_structured_output`). Tool calling and structured
output are tested on scripted tool and JSON models in test_langchain.py instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from openmaas.integrations.langchain import ModelScopeChatEndpoint
from tests.integrations.conftest import LangChainServer


class TestModelScopeChatEndpointUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ModelScopeChatEndpoint]:
        return ModelScopeChatEndpoint

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # With a token: unlike ChatOpenAI, a missing token fails at construction, as in the original package.
        return {"model": "Qwen/Qwen2.5-0.5B-Instruct", "base_url": "http://127.0.0.1:9/v1", "api_key": "ms-x"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"MODELSCOPE_SDK_TOKEN": "ms-from-env", "OPENMAAS_BASE_URL": "http://127.0.0.1:9/v1"},
            {"model": "Qwen/Qwen2.5-0.5B-Instruct"},
            {"openai_api_key": "ms-from-env", "openai_api_base": "http://127.0.0.1:9/v1"},
        )


class TestModelScopeChatEndpointIntegration(ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _server(self, lc_env: LangChainServer) -> None:
        """Every model the suite builds finds the server and token through the environment."""

    @property
    def chat_model_class(self) -> type[ModelScopeChatEndpoint]:
        return ModelScopeChatEndpoint

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "test/echo"}

    @property
    def model_override_value(self) -> str:
        return "test/thinker"

    @property
    def has_tool_calling(self) -> bool:
        # The scripted engine cannot pick tool arguments out of a question (e.g. magic_function(3)).
        return False

    @property
    def has_structured_output(self) -> bool:
        # ... nor fill in the suite's varying schemas.
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True
