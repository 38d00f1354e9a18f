"""Reading RFC 822 / MIME messages for the e-mail intake (stdlib ``email``, ``policy.default``):
reference headers, sender, RFC 2047 subjects and names in any charset (GB2312 read as GB18030, its
superset), the text body (text/plain preferred, HTML stripped as a fallback) and attachments."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, cast

# Mail clients label GBK text as GB2312; GB18030 decodes both and every Chinese character.
CHARSET_FALLBACK = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
                    "gb_2312-80": "gb18030", "euc-cn": "gb18030", "big5": "big5hkscs"}
MSGID = re.compile(r"<[^<>\s]+>")


@dataclass
class ParsedMail:
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    subject: str
    from_name: str | None
    from_email: str | None
    to: list[str]
    date: dt.datetime | None
    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    auto_submitted: bool = False

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this message answers, nearest first (In-Reply-To, then References backwards)."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + list(reversed(self.references))
        return list(dict.fromkeys(ids))


def _charset(name: str | None) -> str:
    name = (name or "utf-8").strip().strip('"').lower()
    return CHARSET_FALLBACK.get(name, name)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset, with GB fallbacks; undecodable bytes become U+FFFD."""
    for name in (_charset(charset), "utf-8", "gb18030"):
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def decode_header_value(raw: str | None) -> str:
    """An RFC 2047 header (``=?GB2312?B?...?=``, ``=?utf-8?Q?...?=``, raw 8-bit) as text."""
    if raw is None:
        return ""
    raw = str(raw)
    if any("\udc80" <= ch <= "\udcff" for ch in raw):  # raw 8-bit bytes kept as surrogates by the parser
        raw = decode_bytes(raw.encode("utf-8", "surrogateescape"), None)
    parts = []
    for chunk, charset in decode_header(raw):
        parts.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    text = "".join(parts)
    return re.sub(r"\s*\r?\n\s*", " ", text).strip()


def _raw_header(msg: EmailMessage, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _ids(value: str | None) -> list[str]:
    """Message-IDs in a header; absurdly long ones (over 255 characters) are ignored."""
    return [m for m in MSGID.findall(value or "") if len(m) <= 255]


class _TextOfHtml(HTMLParser):
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(self.skip - 1, 0)
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body (no scripts, styles or tags), blank lines collapsed."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _part_text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    return decode_bytes(payload, part.get_content_charset())


def _body(msg: EmailMessage) -> str:
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        return _part_text(plain).replace("\r\n", "\n").strip()
    html = msg.get_body(preferencelist=("html",))
    if html is not None:
        return html_to_text(_part_text(html))
    return ""


def _attachments(msg: EmailMessage) -> list[dict[str, Any]]:
    out = []
    for part in msg.iter_attachments() if msg.is_multipart() else []:
        name = part.get_param("filename", header="content-disposition") or part.get_param("name")
        if isinstance(name, tuple):  # RFC 2231 (charset, language, value)
            name = decode_bytes(name[2].encode("latin-1", "replace"), name[0])
        filename = decode_header_value(str(name)) if name else None
        payload = part.get_payload(decode=True) or b""
        out.append({"filename": filename, "content_type": part.get_content_type(), "size": len(payload)})
    return out


def message(raw: bytes) -> EmailMessage:
    """The standard library's reading of one message (bytes as received)."""
    return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))  # policy.default: EmailMessage


def parse(raw: bytes) -> ParsedMail:
    """Parse one message (bytes as received, CRLF or LF line ends)."""
    msg = message(raw)
    from_raw = decode_header_value(_raw_header(msg, "From"))
    name, addr = parseaddr(from_raw)
    date = None
    try:
        date = parsedate_to_datetime(_raw_header(msg, "Date") or "")
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError, IndexError):
        date = None
    ids = _ids(_raw_header(msg, "Message-ID"))
    reply = _ids(_raw_header(msg, "In-Reply-To"))
    auto = (_raw_header(msg, "Auto-Submitted") or "no").strip().lower() != "no" or \
        (_raw_header(msg, "Precedence") or "").strip().lower() in ("bulk", "junk", "auto_reply")
    return ParsedMail(
        message_id=ids[0] if ids else None,
        in_reply_to=reply[0] if reply else None,
        references=_ids(_raw_header(msg, "References")),
        subject=decode_header_value(_raw_header(msg, "Subject")),
        from_name=name.strip().strip('"')[:255] or None,
        from_email=addr.strip().lower()[:255] or None,
        to=[a for _n, a in getaddresses([decode_header_value(_raw_header(msg, "To"))]) if a],
        date=date.astimezone(dt.timezone.utc) if date else None,
        text=_body(msg),
        attachments=_attachments(msg),
        auto_submitted=auto,
    )
