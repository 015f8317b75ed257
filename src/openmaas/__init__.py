"""OpenMaaS: open models behind the APIs developers already use, with tokens and daily quotas."""

__version__ = "0.1.0"
