"""Callback cryptography of the Chinese platforms (OA approvals, messaging channels) on cryptography's AES.

* WeCom (WXBizMsgCrypt) and DingTalk (callback crypto) share one scheme: AES-256-CBC with
  key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding to 32 bytes, plaintext =
  16 random bytes + 4-byte big-endian length + message + receive id (corp id / app key);
  signature = SHA1 of the sorted concatenation of token, timestamp, nonce and ciphertext.
* Feishu/Lark: AES-256-CBC with key = SHA256(encrypt key), a random IV in front of the
  ciphertext, PKCS#7 to 16 bytes; request signature = hex SHA256(timestamp + nonce +
  encrypt key + raw body).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct


class CryptoError(ValueError):
    """A signature does not match or a ciphertext does not decrypt to a valid message."""


def _aes_cbc(key: bytes, iv: bytes, data: bytes, *, decrypt: bool) -> bytes:
    # imported when a callback is decrypted, not in every web worker and command that loads the providers
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(data) + op.finalize()


def _pad(data: bytes, block: int) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def _unpad(data: bytes, block: int) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    n = data[-1]
    if n < 1 or n > block or data[-n:] != bytes([n]) * n:
        raise CryptoError("bad padding")
    return data[:-n]


# ---- WeCom and DingTalk -------------------------------------------------------------------------


def wx_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey."""
    if len(encoding_aes_key or "") != 43:
        raise CryptoError("the EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=")
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("the EncodingAESKey is not valid base64") from exc
    if len(key) != 32:
        raise CryptoError("the EncodingAESKey must decode to 32 bytes")
    return key


def sha1_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """Hex SHA1 of the lexicographically sorted token, timestamp, nonce and ciphertext."""
    # SHA1 is what the WeCom/DingTalk callback protocol signs with; the choice is theirs, not ours.
    return hashlib.sha1("".join(sorted([token, str(timestamp), str(nonce), encrypted])).encode()).hexdigest()  # noqa: S324 - protocol-mandated


def verify_sha1(token: str, timestamp: str, nonce: str, encrypted: str, signature: str) -> None:
    if not hmac.compare_digest(sha1_signature(token, timestamp, nonce, encrypted), str(signature)):
        raise CryptoError("bad signature")


def wx_decrypt(encoding_aes_key: str, encrypted: str, receive_id: str | None) -> str:
    """Decrypt a WeCom/DingTalk ciphertext; check the receive id when given."""
    key = wx_key(encoding_aes_key)
    try:
        raw = base64.b64decode(encrypted)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("the ciphertext is not base64") from exc
    if not raw or len(raw) % 16:
        raise CryptoError("the ciphertext has a wrong length")
    plain = _unpad(_aes_cbc(key, key[:16], raw, decrypt=True), 32)
    if len(plain) < 20:
        raise CryptoError("the plaintext is too short")
    (length,) = struct.unpack(">I", plain[16:20])
    message, tail = plain[20:20 + length], plain[20 + length:]
    if len(message) != length:
        raise CryptoError("the message length does not match")
    if receive_id is not None and tail.decode(errors="replace") != receive_id:
        raise CryptoError("the message is for another corp or app")
    return message.decode()


def wx_encrypt(encoding_aes_key: str, message: str, receive_id: str, random16: bytes | None = None) -> str:
    """Encrypt a reply the WeCom/DingTalk way (a fresh random prefix unless one is given)."""
    key = wx_key(encoding_aes_key)
    body = message.encode()
    plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + receive_id.encode()
    return base64.b64encode(_aes_cbc(key, key[:16], _pad(plain, 32), decrypt=False)).decode()


# ---- Feishu / Lark ------------------------------------------------------------------------------


def feishu_decrypt(encrypt_key: str, encrypted: str) -> str:
    key = hashlib.sha256(encrypt_key.encode()).digest()
    try:
        raw = base64.b64decode(encrypted)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("the ciphertext is not base64") from exc
    if len(raw) < 32 or len(raw) % 16:
        raise CryptoError("the ciphertext has a wrong length")
    plain = _unpad(_aes_cbc(key, raw[:16], raw[16:], decrypt=True), 16)
    try:
        return plain.decode()
    except UnicodeDecodeError as exc:
        raise CryptoError("the plaintext is not UTF-8 (wrong key?)") from exc


def feishu_encrypt(encrypt_key: str, message: str, iv: bytes | None = None) -> str:
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = iv or os.urandom(16)
    return base64.b64encode(iv + _aes_cbc(key, iv, _pad(message.encode(), 16), decrypt=False)).decode()


def feishu_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """``X-Lark-Signature``: hex SHA256 of timestamp + nonce + encrypt key + the raw body."""
    return hashlib.sha256((str(timestamp) + str(nonce) + encrypt_key).encode() + body).hexdigest()


def verify_feishu(timestamp: str, nonce: str, encrypt_key: str, body: bytes, signature: str) -> None:
    if not hmac.compare_digest(feishu_signature(timestamp, nonce, encrypt_key, body), str(signature)):
        raise CryptoError("bad signature")
