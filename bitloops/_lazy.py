"""What the hooks' modules define at import but need only when used: deferred imports.

:func:`exports` gives the packages' ``__init__`` modules lazy re-exports: a package names
its public names and the private module of each; the module is imported on first
access, so importing a package (as every agent hook does) costs nothing more.
:func:`import_module` is importlib's, without importlib; :func:`contextmanager` is
``contextlib.contextmanager`` with contextlib (and the collections and functools it
imports) loaded on the first ``with``.
"""

from __future__ import annotations

import sys

# Not from typing: the hooks import this module, and typing would double their cost.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from contextlib import AbstractContextManager
    from types import ModuleType
    from typing import Any, ParamSpec, TypeVar

    P = ParamSpec("P")
    T = TypeVar("T")

__all__ = ["contextmanager", "exports", "import_module"]


def import_module(name: str) -> ModuleType:
    """``importlib.import_module(name)`` for an absolute name, without importing importlib
    (which imports warnings): the hooks' packages load their modules through this."""
    __import__(name)
    return sys.modules[name]


def exports(
    package: str, modules: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name of ``modules[m]`` is
    read from ``package.m`` when first asked for, then kept in the package."""
    where = {name: module for module, names in modules.items() for name in names}
    namespace = import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__


def contextmanager(
    func: Callable[P, Iterator[T]],
) -> Callable[P, AbstractContextManager[T]]:
    """``contextlib.contextmanager(func)``, with contextlib imported on the first call."""
    made: list[Callable[P, AbstractContextManager[T]]] = []

    def manager(*args: P.args, **kwargs: P.kwargs) -> AbstractContextManager[T]:
        if not made:
            from contextlib import contextmanager as real

            made.append(real(func))
        return made[0](*args, **kwargs)

    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(manager, name, getattr(func, name))
    manager.__wrapped__ = func  # type: ignore[attr-defined]
    return manager
