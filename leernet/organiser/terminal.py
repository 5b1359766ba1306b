"""Printing people's values through Rich without Rich reading them as markup.

A network name with ``[/]`` crashed ``leernet check`` (a closing tag with
nothing open) and ``[link=https://…]`` in a participant's name printed as a
hyperlink. Every value that comes from a network file, the store or a mail is
passed through ``esc`` inside our own markup, and table cells are ``Text``
(never parsed): ``PlainTable`` does that for every ``str`` cell it is given.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["PlainTable", "esc"]


def esc(value: object) -> str:
    """``value`` as text that Rich prints literally inside markup."""
    return escape(str(value))


class PlainTable(Table):
    """A Rich table whose ``str`` cells are shown as they are, never as markup."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        """Add a row whose text cells are printed literally."""
        cells = [Text(cell) if isinstance(cell, str) else cell for cell in renderables]
        super().add_row(*cells, **kwargs)
