"""HTML mail as text: line breaks for blocks, blockquotes as ``>`` lines, entities unescaped.

Linear in the input: a ``<`` that opens no closed tag or comment is text, since
Python 3.11's HTML parser is quadratic on unfinished tags (CVE-2025-6069).
Outlook's marks for where the quoted original starts become its text separator.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from leernet.errors import ParseError

_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
_HIDDEN_TAGS = frozenset({"head", "script", "style", "title", "xml", "template"})
_VOID_TAGS = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base"})
_SPACE_RUN = re.compile(r"[ \t\r\n\f\v]+")
# Outlook on the web and new Outlook mark where the quoted original starts.
_OUTLOOK_QUOTE_IDS = frozenset({"appendonsend", "divrplyfwdmsg"})
OUTLOOK_SEPARATOR = "_" * 32  # what Outlook itself writes above "Van:/From:" in text/plain


def html_to_text(html: str) -> str:
    """HTML as text: line breaks for blocks, blockquotes as ``>`` lines, entities unescaped.

    Raises :class:`ParseError` if the parser fails (it tolerates any text it is given).
    """
    parser = _TextParser()
    try:
        parser.feed(_closed_tags_only(html))
        parser.close()
    except Exception as exc:  # half a text could read as "no answers": a person looks instead
        raise ParseError(f"HTML not read: {type(exc).__name__}: {exc}"[:300]) from exc
    return parser.text()


_MS_SECTION = re.compile(r"<!\[(?:if|else|endif)\b[^<>\]]*\]>", re.IGNORECASE)  # Word's <![if ...]>


def _tag_end(html: str, start: int, gt: int, lt: int) -> int:
    """The ">" that ends the tag at ``start``: before the next "<", outside quotes; or -1."""
    limit = lt if lt >= 0 else len(html)
    if gt < 0 or gt >= limit:
        return -1
    double = html.count('"', start, gt + 1)
    single = html.count("'", start, gt + 1)
    while double % 2 or single % 2:  # a ">" inside a quoted attribute: the next one
        following = html.find(">", gt + 1, limit)
        if following < 0:
            return -1
        double += html.count('"', gt + 1, following + 1)
        single += html.count("'", gt + 1, following + 1)
        gt = following
    return gt


def _closed_tags_only(html: str) -> str:
    """``html`` with every "<" that does not open a closed tag or comment written as "&lt;".

    Python 3.11's HTMLParser rescans from each "<" it cannot finish (CVE-2025-6069):
    '<a b="' repeated 16,000 times took 37 s. Here every "<" left has its ">" before the
    next "<", outside quotes, and every "<!--" its "-->", so the parser never looks ahead
    further than one tag. One pass: each search starts where the previous one ended.
    """
    if "<" not in html:
        return html
    out: list[str] = []
    pos = 0
    next_lt = next_gt = next_end = -2  # -2: not searched yet; -1: none left
    i = html.find("<")
    while i >= 0:
        out.append(html[pos:i])
        if html.startswith("<!--", i):
            if next_end != -1 and next_end < i + 4:
                next_end = html.find("-->", i + 4)
            if next_end >= 0:
                out.append(html[i : next_end + 3])
                pos = next_end + 3
                i = html.find("<", pos)
                continue
        else:
            if next_gt != -1 and next_gt <= i:
                next_gt = html.find(">", i + 1)
            if next_lt != -1 and next_lt <= i:
                next_lt = html.find("<", i + 1)
            end = _tag_end(html, i, next_gt, next_lt)
            if (
                end >= 0
                and html.startswith("<![", i)
                and not _MS_SECTION.fullmatch(html, i, end + 1)
            ):
                end = -1  # HTMLParser asserts on other marked sections, or looks for "]]>"
            if end >= 0:
                out.append(html[i : end + 1])
                pos = end + 1
                i = next_lt if next_lt > end else html.find("<", pos)
                continue
        out.append("&lt;")
        pos = i + 1
        i = html.find("<", pos)
    out.append(html[pos:])
    return "".join(out)


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []
        self._line: list[str] = []
        self._line_depth = 0
        self._quote_depth = 0
        self._hidden = 0
        self._pre = 0
        self._lists: list[list[int]] = []  # per open list: [next number] for <ol>, [] for <ul>
        self._paragraphs: list[bool] = []  # per open <p>: whether a blank line follows it

    def _newline(self) -> None:
        text = "".join(self._line).replace("\xa0", " ")
        text = text.strip() if not self._pre else text.rstrip()
        self._lines.append(("> " * self._line_depth + text).rstrip())
        self._line = []
        self._line_depth = self._quote_depth

    def _block(self) -> None:
        # Outlook writes an empty paragraph as <p>&nbsp;</p>: that is a blank line, keep it.
        if "".join(self._line).strip(" \t\r\n\f\v"):
            self._newline()
        else:
            self._line = []
            self._line_depth = self._quote_depth

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += tag not in _VOID_TAGS
            return
        ids = {(v or "").lower() for k, v in attrs if k == "id"}
        if ids & _OUTLOOK_QUOTE_IDS and tag == "div":
            self._block()
            if "appendonsend" in ids:
                self._line.append(OUTLOOK_SEPARATOR)
                self._newline()
            return
        if tag == "br":
            self._newline()
        elif tag in _BLOCK_TAGS:
            self._block()
            self._open_block(tag, attrs)

    def _open_block(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            # A <p> has a margin in browsers and in Gmail/Apple, so the reader sees a blank line;
            # Word's <p class=MsoNormal> has none, so Outlook's lines stay together.
            classes = " ".join(v or "" for k, v in attrs if k == "class").lower()
            self._paragraphs.append("msonormal" not in classes)
        elif tag == "blockquote":
            self._quote_depth += 1
            self._line_depth = self._quote_depth
        elif tag == "pre":
            self._pre += 1
        elif tag == "ol":
            start = dict(attrs).get("start") or "1"
            self._lists.append([int(start) if start.isdigit() else 1])
        elif tag == "ul":
            self._lists.append([])
        elif tag == "li":
            # Outlook turns a typed "1. 4" into <ol><li>4</li>: keep the number the reader saw.
            if self._lists and self._lists[-1]:
                self._line.append(f"{self._lists[-1][0]}. ")
                self._lists[-1][0] += 1
            else:
                self._line.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
            return
        if tag in _BLOCK_TAGS:
            self._block()
            if tag == "blockquote":
                self._quote_depth = max(0, self._quote_depth - 1)
                self._line_depth = self._quote_depth
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)
            elif tag in ("ol", "ul") and self._lists:
                self._lists.pop()
            elif tag == "p" and self._paragraphs and self._paragraphs.pop():
                self._lines.append(("> " * self._quote_depth).rstrip())

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if self._pre:
            first, *rest = data.split("\n")
            self._line.append(first)
            for line in rest:
                self._newline()
                self._line.append(line)
            return
        self._line.append(_SPACE_RUN.sub(" ", data))

    def text(self) -> str:
        if self._line:
            self._newline()
        out: list[str] = []
        for line in self._lines:
            if not line.strip(" >") and out and not out[-1].strip(" >"):
                continue  # one blank line is enough where HTML had several empty blocks
            out.append(line)
        while out and not out[-1].strip(" >"):
            out.pop()
        while out and not out[0].strip(" >"):
            out.pop(0)
        return "\n".join(out)
