import inspect

import compliance


def test_the_package_exports_exactly_its_sorted_all() -> None:
    # The names are imported when first used (compliance.__getattr__): dir() lists them all the same.
    members = [
        name
        for name in dir(compliance)
        if (not name.startswith("_") or name == "__version__")
        and not inspect.ismodule(getattr(compliance, name))
        and name != "annotations"
    ]
    assert compliance.__all__ == sorted(members)
    for name in compliance.__all__:
        assert getattr(compliance, name) is not None


def test_the_public_names_are_typed_for_users() -> None:
    # A user's type checker reads the package's annotations (py.typed) and its TYPE_CHECKING imports.
    from pathlib import Path

    package = Path(compliance.__file__).parent
    assert (package / "py.typed").exists()
    source = (package / "__init__.py").read_text()
    for name in compliance.__all__:
        if name != "__version__":
            assert f" {name}" in source.split("__all__")[0], f"{name} is not imported for type checkers"


def test_a_static_resolver_from_the_package_places_a_public_address() -> None:
    from compliance import Jurisdiction, StaticResolver

    resolver = StaticResolver({"95.173.136.0/24": "RU"})
    assert resolver.lookup("95.173.136.70") == Jurisdiction("RU", None, False, "static")
