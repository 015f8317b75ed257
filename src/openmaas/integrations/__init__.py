"""Client libraries' integrations with OpenMaaS (and ModelScope's public API-Inference service).

Each module needs its own optional extra, e.g. `pip install 'openmaas[langchain]'` for
`openmaas.integrations.langchain`; nothing here is imported by the server.
"""
