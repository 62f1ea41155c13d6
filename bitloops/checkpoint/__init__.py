"""Checkpoints: the committed state and what reads it.

Promotion of a draft into a checkpoint, its summary and the reasoning records extracted
from it, touched symbols, the folder under ``.bitloops/checkpoints/v1/`` and rewrite links,
verification and purging, search, sync to a team's store, rebuilding a lost database and
adopting a teammate's folders, and distillation. See ``docs/storage.md``.
"""

from __future__ import annotations

from bitloops._lazy import exports

# Spelled out rather than imported from typing: the hooks import this package.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from bitloops.checkpoint._annotations import ANNOTATION_KINDS
    from bitloops.checkpoint._distill import distill, with_distillation
    from bitloops.checkpoint._extract import Extracted, extract
    from bitloops.checkpoint._files import (
        CHECKPOINTS_DIR,
        FORMAT,
        checkpoint_dir,
        dir_content_hash,
        read_checkpoint_dir,
        write_checkpoint_dir,
    )
    from bitloops.checkpoint._in_ref import read_from_ref
    from bitloops.checkpoint._links import (
        LINK_FILE,
        LINK_FORMAT,
        Link,
        broken_links,
        linked_checkpoints,
        parse_links,
        write_link_file,
    )
    from bitloops.checkpoint._promote import promote_commit, promote_session
    from bitloops.checkpoint._rebuild import RebuildReport, adopt_committed, rebuild
    from bitloops.checkpoint._search import InvalidSearch, SearchHit, search
    from bitloops.checkpoint._summary import StructuredSummarizer, Summarizer, render_markdown
    from bitloops.checkpoint._symbols import (
        PythonSymbols,
        SymbolExtractor,
        default_extractors,
        parse_diff,
        touched_symbols,
    )
    from bitloops.checkpoint._symbols_treesitter import (
        LANGUAGES,
        TreeSitterSymbols,
        available_extractors,
    )
    from bitloops.checkpoint._sync import SyncReport, sync
    from bitloops.checkpoint._transcript import Transcript
    from bitloops.checkpoint._verify import (
        Problem,
        PurgeReport,
        VerifyReport,
        purge,
        verify,
        verify_shared,
    )

__all__ = [
    "ANNOTATION_KINDS",
    "CHECKPOINTS_DIR",
    "FORMAT",
    "LANGUAGES",
    "LINK_FILE",
    "LINK_FORMAT",
    "Extracted",
    "InvalidSearch",
    "Link",
    "Problem",
    "PurgeReport",
    "PythonSymbols",
    "RebuildReport",
    "SearchHit",
    "StructuredSummarizer",
    "Summarizer",
    "SymbolExtractor",
    "SyncReport",
    "Transcript",
    "TreeSitterSymbols",
    "VerifyReport",
    "adopt_committed",
    "available_extractors",
    "broken_links",
    "checkpoint_dir",
    "default_extractors",
    "dir_content_hash",
    "distill",
    "extract",
    "linked_checkpoints",
    "parse_diff",
    "parse_links",
    "promote_commit",
    "promote_session",
    "purge",
    "read_checkpoint_dir",
    "read_from_ref",
    "rebuild",
    "render_markdown",
    "search",
    "sync",
    "touched_symbols",
    "verify",
    "verify_shared",
    "with_distillation",
    "write_checkpoint_dir",
    "write_link_file",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "_promote": ("promote_commit", "promote_session"),
        "_summary": ("StructuredSummarizer", "Summarizer", "render_markdown"),
        "_extract": ("Extracted", "extract"),
        "_transcript": ("Transcript",),
        "_files": (
            "CHECKPOINTS_DIR",
            "FORMAT",
            "checkpoint_dir",
            "dir_content_hash",
            "read_checkpoint_dir",
            "read_from_ref",
            "write_checkpoint_dir",
        ),
        "_links": (
            "LINK_FILE",
            "LINK_FORMAT",
            "Link",
            "broken_links",
            "linked_checkpoints",
            "parse_links",
            "write_link_file",
        ),
        "_in_ref": ("read_from_ref",),
        "_verify": ("Problem", "PurgeReport", "VerifyReport", "purge", "verify", "verify_shared"),
        "_search": ("InvalidSearch", "SearchHit", "search"),
        "_sync": ("SyncReport", "sync"),
        "_rebuild": ("RebuildReport", "adopt_committed", "rebuild"),
        "_symbols": (
            "PythonSymbols",
            "SymbolExtractor",
            "default_extractors",
            "parse_diff",
            "touched_symbols",
        ),
        "_symbols_treesitter": ("LANGUAGES", "TreeSitterSymbols", "available_extractors"),
        "_annotations": ("ANNOTATION_KINDS",),
        "_distill": ("distill", "with_distillation"),
    },
)
