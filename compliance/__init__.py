"""compliance: legal notices by jurisdiction, as ASGI middleware."""

from __future__ import annotations

import importlib
import typing

from compliance._version import __version__

if typing.TYPE_CHECKING:
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

# The public names are imported when first used, so that `import compliance`
# (and the `compliance` command's --help and --version) does not load the
# middleware and what it needs.
_MODULES = {
    "ComplianceError": "compliance.errors",
    "ComplianceMiddleware": "compliance.middleware",
    "ConfigError": "compliance.errors",
    "Jurisdiction": "compliance.reader.jurisdiction",
    "Problem": "compliance.errors",
    "RuleFileError": "compliance.errors",
}


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'compliance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
