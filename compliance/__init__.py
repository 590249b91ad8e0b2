"""compliance: legal notices by jurisdiction, as ASGI middleware."""

from __future__ import annotations

from .errors import ComplianceError, ConfigError, Problem, RuleFileError
from .jurisdiction import Jurisdiction
from .middleware import ComplianceMiddleware

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
