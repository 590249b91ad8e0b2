"""compliance: legal notices by jurisdiction, as ASGI middleware."""

from __future__ import annotations

from compliance.errors import ComplianceError, ConfigError, Problem, RuleFileError
from compliance.middleware import ComplianceMiddleware
from compliance.reader.jurisdiction import Jurisdiction

__version__ = "0.1.0"

__all__ = [
    "ComplianceError",
    "ComplianceMiddleware",
    "ConfigError",
    "Jurisdiction",
    "Problem",
    "RuleFileError",
    "__version__",
]
