"""The interactive ``rewind`` browser: its state, apart from curses, and the curses loop.

:class:`RewindBrowser` turns key actions into screens of plain rows, so that it is
tested without a terminal; :func:`browse` draws them with :mod:`curses`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bitloops.cli._explain import explain_lines
from bitloops.cli._registry import EXIT_OK
from bitloops.cli._rewind import rewind_lines
from bitloops.cli._style import clip, plural

if TYPE_CHECKING:
    from bitloops.model import Checkpoint

__all__ = ["RewindBrowser", "browse"]


class RewindBrowser:
    """The state of the interactive ``rewind`` browser, independent of curses.

    Feed it actions (``up``, ``down``, ``page_up``, ``page_down``, ``home``, ``end``,
    ``open``, ``back``, ``transcript``, ``quit``) with :meth:`act`, and draw what
    :meth:`screen` returns: one ``(text, kind)`` per terminal row, kind being
    ``title``, ``selected``, ``text`` or ``help``.
    """

    def __init__(self, checkpoints: Sequence[Checkpoint], *, now: datetime | None = None) -> None:
        self.checkpoints = list(checkpoints)
        self.now = now
        self.selected = 0
        self.top = 0
        #: The index of the checkpoint shown in full, or None while the list is shown.
        self.opened: int | None = None
        self.scroll = 0
        self.full = False
        self.done = False
        self._detail: tuple[tuple[int, int, bool], list[str]] | None = None

    def detail(self, width: int) -> list[str]:
        """The text of the opened checkpoint: what ``explain`` prints, wrapped to ``width``."""
        if self.opened is None:
            return []
        key = (self.opened, width, self.full)
        if self._detail is None or self._detail[0] != key:
            cp = self.checkpoints[self.opened]
            lines = explain_lines(cp, width=width, full=self.full, now=self.now)
            self._detail = (key, lines)
        return self._detail[1]

    def act(self, action: str, height: int, width: int) -> None:
        """Apply one action for a terminal of ``height`` rows and ``width`` columns."""
        page = max(1, height - 2)
        if action == "quit":
            self.done = True
        elif self.opened is None:
            self._act_list(action, page)
        else:
            self._act_detail(action, page, width)

    def _act_list(self, action: str, page: int) -> None:
        last = len(self.checkpoints) - 1
        moves = {"up": -1, "down": 1, "page_up": -page, "page_down": page}
        if action in moves:
            self.selected = min(max(self.selected + moves[action], 0), max(last, 0))
        elif action == "home":
            self.selected = 0
        elif action == "end":
            self.selected = max(last, 0)
        elif action == "open" and self.checkpoints:
            self.opened, self.scroll = self.selected, 0
        self.top = min(self.top, self.selected)
        self.top = max(self.top, self.selected - page + 1)

    def _act_detail(self, action: str, page: int, width: int) -> None:
        if action == "back":
            self.opened = None
            return
        if action == "transcript":
            self.full = not self.full
        last = max(0, len(self.detail(width)) - page)
        moves = {"up": -1, "down": 1, "page_up": -page, "page_down": page}
        if action in moves:
            self.scroll += moves[action]
        elif action == "home":
            self.scroll = 0
        elif action == "end":
            self.scroll = last
        self.scroll = min(max(self.scroll, 0), last)

    def screen(self, height: int, width: int) -> list[tuple[str, str]]:
        """What the terminal shows: a title row, the body, and a help row."""
        page = max(1, height - 2)
        if self.opened is None:
            title = f"bitloops rewind: {plural(len(self.checkpoints), 'checkpoint')}, newest first"
            rows = rewind_lines(self.checkpoints, width)
            # The terminal may have shrunk since the last key: keep the selection in view.
            self.top = max(min(self.top, self.selected), self.selected - page + 1)
            body = [
                (row, "selected" if index == self.selected else "text")
                for index, row in enumerate(rows)
            ][self.top : self.top + page]
            hint = "up/down j/k move   Enter open   q quit"
        else:
            cp = self.checkpoints[self.opened]
            lines = self.detail(width)
            self.scroll = min(self.scroll, max(0, len(lines) - page))
            shown = min(len(lines), self.scroll + page)
            where = f"lines {self.scroll + 1}-{shown} of {len(lines)}"
            title = f"checkpoint of {cp.commit_sha[:12]}  ({where})"
            body = [(line, "text") for line in lines[self.scroll : self.scroll + page]]
            hint = "up/down j/k scroll   t transcript   Esc/b back   q quit"
        rows_out = [(clip(title, width), "title"), *body]
        rows_out += [("", "text")] * (height - 1 - len(rows_out))
        return [*rows_out, (clip(hint, width), "help")][:height]


_ESC = 27


def _key_action(key: int | str) -> str | None:
    """The browser action a key press means (keys as curses ``get_wch`` returns them)."""
    import curses

    by_char = {
        "k": "up",
        "j": "down",
        "g": "home",
        "G": "end",
        " ": "page_down",
        "\n": "open",
        "\r": "open",
        "l": "open",
        "b": "back",
        "h": "back",
        "\x7f": "back",
        "\b": "back",
        "\x1b": "back",
        "t": "transcript",
        "q": "quit",
        "Q": "quit",
    }
    by_code = {
        curses.KEY_UP: "up",
        curses.KEY_DOWN: "down",
        curses.KEY_PPAGE: "page_up",
        curses.KEY_NPAGE: "page_down",
        curses.KEY_HOME: "home",
        curses.KEY_END: "end",
        curses.KEY_ENTER: "open",
        curses.KEY_RIGHT: "open",
        curses.KEY_LEFT: "back",
        curses.KEY_BACKSPACE: "back",
        _ESC: "back",
    }
    if isinstance(key, str):
        return by_char.get(key)
    return by_code.get(key)


def browse(browser: RewindBrowser) -> int:
    import curses

    def loop(screen: Any) -> None:
        try:
            curses.curs_set(0)
        except curses.error:
            pass  # some terminals cannot hide the cursor
        curses.set_escdelay(25)  # Esc goes back at once rather than after a second
        screen.keypad(True)
        attrs = {
            "title": curses.A_BOLD,
            "selected": curses.A_REVERSE,
            "text": curses.A_NORMAL,
            "help": curses.A_DIM,
        }
        while not browser.done:
            height, width = screen.getmaxyx()
            screen.erase()
            for row, (text, kind) in enumerate(browser.screen(height, max(1, width - 1))):
                try:
                    screen.addnstr(row, 0, text, max(1, width - 1), attrs[kind])
                except curses.error:
                    pass  # a terminal shrunk mid-draw; the next resize redraws
            screen.refresh()
            action = _key_action(screen.get_wch())
            if action is not None:
                browser.act(action, height, max(1, width - 1))

    curses.wrapper(loop)
    return EXIT_OK
