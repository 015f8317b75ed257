"""Engines whose model runs in another process or machine: OpenAI-compatible upstreams and OpenMaaS
engine workers, both with several replicas, load balancing, circuit breakers and failover."""
