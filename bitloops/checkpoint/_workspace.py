"""What the checkpoint package needs of a work tree beyond a
:class:`~bitloops._workspace.Workspace`: reading checkpoints from every place they are kept
(:class:`bitloops.Repository` is it)."""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence
    from typing import Any, Protocol

    from bitloops._workspace import Workspace
    from bitloops.checkpoint._history import FileHistoryEntry
    from bitloops.checkpoint._search import SearchHit
    from bitloops.checkpoint._symbols import SymbolExtractor
    from bitloops.model import Annotation, Checkpoint
    from bitloops.store._sqlite import CheckpointQuery
else:
    Protocol = Workspace = object

__all__ = ["Checkpoints"]


class Checkpoints(Workspace, Protocol):
    """A work tree whose checkpoints can be read, searched and annotated."""

    @property
    def symbol_extractors(self) -> Sequence[SymbolExtractor] | None:
        """Extractors that replace the built-in symbol finders, if any."""

    def annotate(self, checkpoint_id: str, kind: str, body: dict[str, Any]) -> Annotation:
        """Append an annotation to a checkpoint."""

    def annotations(
        self, *, checkpoint_id: str | None = None, kind: str | None = None
    ) -> list[Annotation]:
        """The annotations that match, oldest first."""

    def history(
        self,
        path: str | os.PathLike[str],
        *,
        symbol: str | None = None,
        line: int | None = None,
        limit: int | None = None,
    ) -> list[FileHistoryEntry]:
        """The checkpoints that touched a file, a symbol or a line, newest first."""

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Committed events that match ``query``."""

    def _load_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """One checkpoint of this clone's store by id."""

    def _from_files(self, sha: str) -> list[Checkpoint]:
        """The checkpoints committed folders and the checkpoint ref hold for ``sha``."""

    def _shared_checkpoints(
        self, query: CheckpointQuery, *, checkpoint_id: str | None = None
    ) -> list[Checkpoint]:
        """The team store's checkpoints that match ``query``."""
