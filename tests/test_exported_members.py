import inspect

import compliance


def test_the_package_exports_exactly_its_sorted_all() -> None:
    members = [
        name
        for name, value in vars(compliance).items()
        if (not name.startswith("_") or name == "__version__") and not inspect.ismodule(value) and name != "annotations"
    ]
    assert compliance.__all__ == sorted(members)
