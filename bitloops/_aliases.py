"""The module paths of bitloops 0.1, kept importable for one release (CHANGELOG.md).

Each old path is the module it moved to, under its old name too, after a
``DeprecationWarning``. The finder sits first on ``sys.meta_path`` and answers only
those names, so a stale folder of an old path cannot shadow it.
"""

from __future__ import annotations

import sys

from bitloops._lazy import import_module

TYPE_CHECKING = False  # not from typing: `import bitloops` stays cheap for the hooks

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.abc import Loader as _Base
    from importlib.machinery import ModuleSpec
    from types import ModuleType
else:
    _Base = object  # importlib.abc costs the hooks 40 ms; the loader protocol is two methods

__all__ = ["MOVED", "SPLIT", "install"]

#: old module path -> where it lives now
MOVED = {
    "bitloops.agent_config": "bitloops.agents._config",
    "bitloops.annotations": "bitloops.checkpoint._annotations",
    "bitloops.checkpoint_files": "bitloops.checkpoint._files",
    "bitloops.checkpoint_links": "bitloops.checkpoint._links",
    "bitloops.checkpoint_ref": "bitloops.git._ref",
    "bitloops.cli_context": "bitloops.cli._context",
    "bitloops.cli_distill": "bitloops.cli._distill",
    "bitloops.cli_record": "bitloops.cli._record",
    "bitloops.cli_web": "bitloops.cli._web",
    "bitloops.codec": "bitloops._codec",
    "bitloops.context.blame": "bitloops.context._blame",
    "bitloops.context.gate": "bitloops.context._gate",
    "bitloops.context.history": "bitloops.checkpoint._history",
    "bitloops.context.index": "bitloops.store._index",
    "bitloops.context.inject": "bitloops.context._inject",
    "bitloops.context.review": "bitloops.context._review",
    "bitloops.context.sources": "bitloops.checkpoint._sources",
    "bitloops.distill": "bitloops.checkpoint._distill",
    "bitloops.extract": "bitloops.checkpoint._extract",
    "bitloops.gitutil": "bitloops.git._git",
    "bitloops.hooklog": "bitloops.capture._hooklog",
    "bitloops.hooks": "bitloops.git._hooks",
    "bitloops.idle": "bitloops.capture._idle",
    "bitloops.importing": "bitloops.capture._importing",
    "bitloops.integrations": "bitloops.agents",
    "bitloops.integrations.base": "bitloops.capture._runner",
    "bitloops.integrations.claude_code": "bitloops.agents.claude_code",
    "bitloops.integrations.codex": "bitloops.agents.codex",
    "bitloops.integrations.copilot": "bitloops.agents.copilot",
    "bitloops.integrations.cursor": "bitloops.agents.cursor",
    "bitloops.integrations.direct": "bitloops.capture._direct",
    "bitloops.integrations.gemini": "bitloops.agents.gemini",
    "bitloops.integrations.opencode": "bitloops.agents.opencode",
    "bitloops.integrations.transcript_state": "bitloops.capture._transcript_state",
    "bitloops.locate": "bitloops.git._locate",
    "bitloops.mcp_config": "bitloops.agents._mcp_config",
    "bitloops.plans": "bitloops.capture._plans",
    "bitloops.promote": "bitloops.checkpoint._promote",
    "bitloops.rebuild": "bitloops.checkpoint._rebuild",
    "bitloops.resume": "bitloops.agents._resume",
    "bitloops.safe_read": "bitloops.capture._safe_read",
    "bitloops.search": "bitloops.checkpoint._search",
    "bitloops.session": "bitloops.capture._session",
    "bitloops.spool": "bitloops.capture._spool",
    "bitloops.store.live": "bitloops.store._live",
    "bitloops.store.migrations": "bitloops.store._migrations",
    "bitloops.store.postgres": "bitloops.store._postgres",
    "bitloops.store.sqlite": "bitloops.store._sqlite",
    "bitloops.summary": "bitloops.checkpoint._summary",
    "bitloops.symbols": "bitloops.checkpoint._symbols",
    "bitloops.symbols_treesitter": "bitloops.checkpoint._symbols_treesitter",
    "bitloops.sync": "bitloops.checkpoint._sync",
    "bitloops.transcript": "bitloops.checkpoint._transcript",
    "bitloops.verify": "bitloops.checkpoint._verify",
    "bitloops.web.export": "bitloops.web._export",
    "bitloops.web.html": "bitloops.web._html",
    "bitloops.web.pages": "bitloops.web._pages",
    "bitloops.web.server": "bitloops.web._server",
}


class _Finder:
    """Finds an old path and loads it as the module that replaced it."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        new = MOVED.get(name)
        if new is None:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(
            name, _Loader(new), is_package=any(old.startswith(name + ".") for old in MOVED)
        )


#: old module path -> {name: module it went to}, for names that left the module that
#: replaced their old one
SPLIT = {
    "bitloops.hooks": {
        "pending_folders": "bitloops._commit_flow",
        "run_hook": "bitloops._commit_flow",
    },
    "bitloops.importing": {
        "agent_module": "bitloops.agents._registry",
        "importable_agents": "bitloops.agents._registry",
    },
    "bitloops.checkpoint_ref": {
        "put_checkpoint": "bitloops.checkpoint._in_ref",
        "read_from_ref": "bitloops.checkpoint._in_ref",
    },
}


def _public_place(new: str) -> str:
    """Where users import what ``new`` holds: the package in front of its first private
    part (``bitloops.capture`` for ``bitloops.capture._importing``)."""
    parts = new.split(".")
    for i, part in enumerate(parts[1:], 1):
        if part.startswith("_"):
            return ".".join(parts[:i])
    return new


class _Loader(_Base):
    def __init__(self, new: str) -> None:
        self.new = new
        self.spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:

        import warnings  # only when an old name is imported: the hooks never pay for it

        place = _public_place(self.new)
        warnings.warn(
            f"{spec.name} is deprecated and will be removed in the next release; import "
            + (
                f"{place} instead"
                if place == self.new
                else f"the names {place} exports instead (what it does not export is internal)"
            ),
            DeprecationWarning,
            stacklevel=2,
        )
        package = any(old.startswith(spec.name + ".") for old in MOVED)
        if not package and spec.name not in SPLIT:
            module = import_module(self.new)
            self.spec = module.__spec__  # the import system will set the alias's spec on it
            return module
        # A module of its own: an old package, so that `from old import submodule` asks
        # for old.submodule (the module it moved to) rather than new.submodule; or an old
        # module some of whose names went elsewhere.
        import types

        proxy = types.ModuleType(spec.name)
        if package:
            proxy.__path__ = []
        target, elsewhere = self.new, SPLIT.get(spec.name, {})

        def __getattr__(name: str) -> object:
            if f"{spec.name}.{name}" in MOVED:
                return import_module(f"{spec.name}.{name}")
            return getattr(import_module(elsewhere.get(name, target)), name)

        proxy.__getattr__ = __getattr__  # type: ignore[method-assign]
        if not package:  # `from old import *` brings what the old module exported
            exported = getattr(import_module(target), "__all__", ())
            proxy.__all__ = [*exported, *elsewhere]  # type: ignore[attr-defined]
        return proxy

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module it stands for is loaded already. Its own spec is put
        back, so that it still reloads as itself."""
        if self.spec is not None:
            module.__spec__ = self.spec


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        # First, not last: a stale folder of an old path (an `integrations/` left by a
        # checkout update) would otherwise load as an empty namespace package. It answers
        # only the names in MOVED.
        sys.meta_path.insert(0, _Finder())
