"""The OpenAI Responses API (`/v1/responses`): the third chat dialect, over the same `ChatRequest` and
`ChatEvent` stream as chat completions and Anthropic messages, with stored responses for conversations."""
