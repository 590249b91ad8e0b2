"""compliance: legal notices by jurisdiction, as ASGI middleware."""

from __future__ import annotations

import importlib
import typing

from compliance._version import __version__

if typing.TYPE_CHECKING:
    from compliance.errors import ComplianceError, ConfigError, Problem, RuleFileError
    from compliance.middleware import ComplianceMiddleware
    from compliance.reader.databases import EmbeddedResolver, GeoIP2Resolver, Resolver, StaticResolver
    from compliance.reader.jurisdiction import Jurisdiction
    from compliance.rules import load_rules
    from compliance.rules.model import RuleSet

__all__ = [
    "ComplianceError",
    "ComplianceMiddleware",
    "ConfigError",
    "EmbeddedResolver",
    "GeoIP2Resolver",
    "Jurisdiction",
    "Problem",
    "Resolver",
    "RuleFileError",
    "RuleSet",
    "StaticResolver",
    "__version__",
    "load_rules",
]

# The public names are imported when first used, so that `import compliance`
# (and the `compliance` command's --help and --version) does not load the
# middleware and what it needs.
_MODULES = {
    "ComplianceError": "compliance.errors",
    "ComplianceMiddleware": "compliance.middleware",
    "ConfigError": "compliance.errors",
    "EmbeddedResolver": "compliance.reader.databases",
    "GeoIP2Resolver": "compliance.reader.databases",
    "Jurisdiction": "compliance.reader.jurisdiction",
    "Problem": "compliance.errors",
    "Resolver": "compliance.reader.databases",
    "RuleFileError": "compliance.errors",
    "RuleSet": "compliance.rules.model",
    "StaticResolver": "compliance.reader.databases",
    "load_rules": "compliance.rules",
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
