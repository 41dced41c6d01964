"""Linear-time scanning of XML-like tags in model output.

Completions are untrusted: a regex such as ``.*?</a>\\s*<b>.*?</b>\\s*\\Z`` backtracks over every tag occurrence
(about n^k for k lazy segments), and ``findall`` of ``<a>(.*?)</a>`` over many unclosed ``<a>`` is quadratic.
These helpers give the same answers with ``str.find`` scans and regexes whose every step moves forward, so each
call is O(len(text)).
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def last_tag_content(text: str, open_tag: str, close_tag: str) -> str | None:
    """The content of the last ``open_tag ... close_tag`` pair, exactly as ``re.findall(open(.*?)close,
    DOTALL)[-1]`` would pick it (leftmost non-overlapping pairs, shortest content), unstripped; None when no
    pair is closed."""
    last, position = None, 0
    while True:
        start = text.find(open_tag, position)
        if start < 0:
            return last
        content_start = start + len(open_tag)
        end = text.find(close_tag, content_start)
        if end < 0:  # no closing tag after this opening one: no later pair can close either
            return last
        last, position = text[content_start:end], end + len(close_tag)


def tag_link(closing: str, opening: str) -> re.Pattern:
    """``closing \\s* opening``, e.g. ``</think>\\s*<answer>``: a link of a tag chain (see ``ends_with_tag_chain``).
    Searching it is linear: the whitespace runs after different occurrences of ``closing`` are disjoint."""
    return re.compile(re.escape(closing) + r"\s*" + re.escape(opening))


def ends_with_tag_chain(text: str, links: Sequence[re.Pattern], final_close: str) -> bool:
    """Whether ``re.match(".*?" + link_1 + ".*?" + ... + link_k + ".*?" + final_close + "\\s*\\Z", text, DOTALL)``
    succeeds, in linear time.

    The final closing tag must be followed by whitespace only, so it sits at the end of ``text.rstrip()`` (``\\s``
    and ``str.isspace`` agree). The links must then occur in order before it; taking each link's earliest
    occurrence after the previous one leaves the most room for the rest, so one forward pass decides.
    """
    body = text.rstrip()
    if not body.endswith(final_close):
        return False
    limit, position = len(body) - len(final_close), 0
    for link in links:
        match = link.search(text, position, limit)
        if match is None:
            return False
        position = match.end()
    return True
