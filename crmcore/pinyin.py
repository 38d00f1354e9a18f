"""Chinese to pinyin from a compact table shipped with the package, the output of pypinyin without loading it.

pypinyin's dictionaries cost a web worker ~55 MiB once loaded; ``pinyin_table.txt`` holds the same data in
1.4 MiB, mapped read-only (``mmap``): a lookup reads a few pages of it, and the web workers of a machine share
the pages the operating system keeps of the file rather than a copy each: every character's and every phrase's plain pinyin (pypinyin's ``Style.NORMAL``, its first reading), sorted,
written by ``python -m crmcore.pinyin`` from the installed pypinyin. ``lazy_pinyin`` cuts text into words exactly as
pypinyin does (Han runs, then forward maximum matching over the phrases), so polyphones read by phrase
(重庆 chongqing, 银行 yinhang) read the same; ``tests/crmcore/test_pinyin.py`` checks both against pypinyin.
"""
from __future__ import annotations

import functools
import mmap
import re
import sys
from collections.abc import Iterator
from pathlib import Path

TABLE = Path(__file__).with_name("pinyin_table.txt")

# pypinyin's RE_HANS: the characters it has readings for (a run of them is cut into words; anything else has none)
_HANS = re.compile(
    "([\u3007\ue815-\ue864\ufa18\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002A6DF\U0002A703-\U0002B73F\U0002B740-\U0002B81D\U0002B825-\U0002BF6E\U0002C029-\U0002CE93"
    "\U0002D016\U0002D11B-\U0002EBD9\U0002F80A-\U0002FA1F\U00030000-\U0003134A\U000300F7-\U00031288"
    "\U00030EDD\U00030EDE\U00031350-\U00032389]+)")


class _Table:
    """The sorted lines ``key<TAB>pinyin`` as one UTF-8 byte string (its order is the characters' order), searched
    by bisection over byte positions: the file mapped, nothing built at load."""

    def __init__(self, blob: bytes | mmap.mmap) -> None:
        self._blob = blob

    def _find(self, key: bytes) -> int:
        """The start of the first line whose key is ``key`` or sorts after it (the end of the blob if none)."""
        blob, lo, hi = self._blob, 0, len(self._blob)
        while lo < hi:  # lo and the line found are line starts
            start = max(blob.rfind(b"\n", 0, (lo + hi) // 2) + 1, lo)
            if blob[start:blob.find(b"\t", start)] < key:
                lo = blob.find(b"\n", start) + 1
            else:
                hi = start
        return lo

    def _key_at(self, pos: int) -> bytes:
        return self._blob[pos:self._blob.find(b"\t", pos)] if pos < len(self._blob) else b""

    def probe(self, word: str) -> tuple[bool, str | None]:
        """Whether a phrase (two characters or more) starts with ``word`` (pypinyin's prefix set), and the pinyin
        of ``word`` if the table has it (syllables separated by spaces): one bisection for both."""
        raw = word.encode("utf-8")
        pos = self._find(raw)
        value = None
        if self._key_at(pos) == raw:
            end = self._blob.find(b"\n", pos)
            value = self._blob[pos + len(raw) + 1:end].decode("ascii")
            if len(word) > 1:
                return True, value
            pos = end + 1  # a character's own entry is no phrase
        return self._key_at(pos).startswith(raw), value


_table: _Table | None = None


@functools.lru_cache(maxsize=16384)  # names repeat their words (有限公司, 科技, 贸易): most probes are asked before
def _probe(word: str) -> tuple[bool, str | None]:
    global _table
    if _table is None:
        with TABLE.open("rb") as fh:  # the mapping outlives the file object
            _table = _Table(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
    return _table.probe(word)


def _words(run: str) -> Iterator[str]:
    """pypinyin's ``mmseg.Seg(no_non_phrases=True).cut``: the longest phrase at each point, else one character."""
    remain = run
    while remain:
        last_valid = ""
        for index in range(len(remain)):
            word = remain[:index + 1]
            starts, value = _probe(word)
            if not starts:
                yield last_valid or remain[0]
                remain = remain[len(last_valid or remain[0]):]
                break
            if len(word) > 1 and value is not None:
                last_valid = word
        else:  # the whole rest is the start of a phrase
            if last_valid:
                yield last_valid
                remain = remain[len(last_valid):]
            else:
                yield from remain  # not a phrase itself: pypinyin reads it character by character
                break


def lazy_pinyin(text: str) -> list[str]:
    """The syllables of the Chinese in ``text``, as ``pypinyin.lazy_pinyin(text, errors="ignore")`` gives them."""
    out: list[str] = []
    for run in _HANS.findall(text):
        for word in _words(run):
            value = _probe(word)[1]
            if value:
                out.extend(value.split(" "))
    return out


def build_table() -> bytes:
    """The table from the installed pypinyin (run by ``python -m crmcore.pinyin`` when pypinyin changes)."""
    from pypinyin import Style
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT
    from pypinyin.converter import DefaultConverter

    convert = DefaultConverter().convert
    lines = []
    for key in [*(chr(n) for n in PINYIN_DICT), *PHRASES_DICT]:
        syllables = [reading[0] for reading in convert(key, Style.NORMAL, False, "ignore", True)]
        if syllables:
            lines.append(f"{key}\t{' '.join(syllables)}")
    return ("\n".join(sorted(lines)) + "\n").encode("utf-8")


if __name__ == "__main__":
    TABLE.write_bytes(build_table())
    print(f"wrote {TABLE.name}", file=sys.stderr)
