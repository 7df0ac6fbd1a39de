"""memscope audit: which samples a model memorized, and how exposed they are."""
from .core import AuditResult, AuditSettings, audit, format_audit, write_audit  # noqa: F401
