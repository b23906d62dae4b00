"""revoke: offboarding access revocation as code."""

__version__ = "0.1.0"
