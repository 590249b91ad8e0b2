"""compliance: legal notices by jurisdiction, as ASGI middleware."""

from __future__ import annotations

from compliance._version import __version__
from compliance.errors import ComplianceError, ConfigError, Problem, RuleFileError
from compliance.middleware import ComplianceMiddleware
from compliance.reader.jurisdiction import Jurisdiction

__all__ = [
    "ComplianceError",
    "ComplianceMiddleware",
    "ConfigError",
    "Jurisdiction",
    "Problem",
    "RuleFileError",
    "__version__",
]
