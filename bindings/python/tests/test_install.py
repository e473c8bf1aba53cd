"""The suite must exercise the installed wheel, not the source tree."""

from __future__ import annotations

from pathlib import Path

import fractal_lba
import fractal_lba._native

SOURCE_PACKAGE = (Path(__file__).resolve().parent.parent / "python").resolve()


def test_imported_from_an_installed_wheel_not_the_source_tree() -> None:
    pkg = Path(fractal_lba.__file__).resolve()
    assert "site-packages" in pkg.parts
    assert SOURCE_PACKAGE not in pkg.parents


def test_wheel_ships_types_and_the_native_module() -> None:
    pkg_dir = Path(fractal_lba.__file__).resolve().parent
    assert (pkg_dir / "py.typed").is_file()
    assert (pkg_dir / "_native.pyi").is_file()
    assert Path(fractal_lba._native.__file__).name.endswith(".abi3.so")


def test_versions() -> None:
    assert fractal_lba.__version__ == fractal_lba.CORE_VERSION
    assert fractal_lba.SCHEMA == "fractal-lba-kakeya"
    assert fractal_lba.MAX_EPOCH == 2**53 - 1


def test_every_public_name_has_a_docstring() -> None:
    for name in fractal_lba.__all__:
        obj = getattr(fractal_lba, name)
        if isinstance(obj, (str, int)):
            continue
        assert (obj.__doc__ or "").strip(), name
