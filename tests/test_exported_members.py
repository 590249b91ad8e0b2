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
