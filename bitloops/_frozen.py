"""One frozen record base for the modules the hooks import: attrs would cost each hook
more than the rest of its start-up."""

from __future__ import annotations

TYPE_CHECKING = False  # not from typing: the hooks import this module

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["Frozen"]


def _rebuild(cls: type[Frozen], values: dict[str, Any]) -> Frozen:
    """A record from its fields, for pickle and copy: through its own ``__init__``."""
    return cls(**values)


class Frozen:
    """A record whose fields are its ``__slots__``: set once, compared and hashed by
    value, shown, copied and pickled as an attrs frozen class is.

    A subclass's ``__init__`` takes its fields as keywords and hands them to
    :meth:`_fill` (``self._fill(locals())`` will do).
    """

    __slots__: tuple[str, ...] = ()

    def __init__(self, **values: Any) -> None:
        self._fill(values)

    def _fill(self, values: Mapping[str, Any]) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; build a new one instead")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle rebuild it through __init__ (its setattr refuses).
        return (_rebuild, (type(self), dict(zip(self.__slots__, self._values(), strict=True))))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
