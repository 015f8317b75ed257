"""Engine workers: processes (or machines) that run model engines for the API tier.

`openmaas worker --models FILE` loads the engines of a registry file exactly as the embedded server
does, serves them over an internal HTTP API (`app.py`, authenticated by a shared secret) and registers
itself with a heartbeat in the worker directory (`openmaas.store.redis_directory`, in Redis). API
processes discover the live workers (`discovery.py`) and reach each model through a `WorkerChatEngine`
that balances over its replicas (`openmaas.engines.remote`).
"""
