"""`openmaas chat`: a terminal chat with personas against any OpenAI-compatible endpoint.

The modules: `repl` (the command: set-up, the terminal loop, piped mode), `session` (asking a question and
streaming the answer), `conversation` (the message list and transcripts), `personas` (named system
messages), `commands` (the slash commands), `parameters` (max_tokens, temperature, ... from flags and
`/set`), `images` (`/image` as an async task), `endpoint` (the server, and failures as one line), `render`
(colours, the message list, the progress bar).
"""
