"""The OA platforms' callback crypto against the vendors' own published test vectors.

Sources: DingTalk — open-dingtalk/DingTalk-Callback-Crypto, DingCallbackCrypto3.py (token
"mryue"); WeCom — the WXBizMsgCrypt samples and the callback documentation (token "QDG6eK",
corp "wx5823bf96d3bd56c7"); Feishu — the event-subscription docs' decryption sample ("test key").
"""
from __future__ import annotations

import pytest

from adapters import crypto

DING = {"token": "mryue", "aes_key": "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "app_key": "ding6ccabc44d2c8d38b",
        "signature": "03044561471240d4a14bb09372dfcfd4fd0e40cb", "timestamp": "1608001896814", "nonce": "WL4PK6yA",
        "encrypt": "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju"
                   "4yhELOFchzNukR+t8SB/qk4ROMu3"}
WECOM = {"token": "QDG6eK", "aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "corp_id": "wx5823bf96d3bd56c7"}
WECOM_URL = {"signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589", "nonce": "263014780",
             "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="}
WECOM_MSG = {"signature": "477715d11cdb4164915debcba66cb864d751f3e6", "timestamp": "1409659813", "nonce": "1372623149",
             "encrypt": "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/s"
                        "YYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+H"
                        "MZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrX"
                        "JB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m"
                        "3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="}


def test_dingtalk_published_vector():
    assert crypto.sha1_signature(DING["token"], DING["timestamp"], DING["nonce"], DING["encrypt"]) == DING["signature"]
    assert crypto.wx_decrypt(DING["aes_key"], DING["encrypt"], DING["app_key"]) == '{"EventType":"check_url"}'
    with pytest.raises(crypto.CryptoError, match="another corp"):
        crypto.wx_decrypt(DING["aes_key"], DING["encrypt"], "ding-someone-else")
    with pytest.raises(crypto.CryptoError):
        crypto.verify_sha1(DING["token"], DING["timestamp"], "other-nonce", DING["encrypt"], DING["signature"])


def test_wecom_published_url_check_and_message():
    crypto.verify_sha1(WECOM["token"], WECOM_URL["timestamp"], WECOM_URL["nonce"], WECOM_URL["echostr"],
                       WECOM_URL["signature"])
    assert crypto.wx_decrypt(WECOM["aes_key"], WECOM_URL["echostr"], WECOM["corp_id"]) == "1616140317555161061"
    crypto.verify_sha1(WECOM["token"], WECOM_MSG["timestamp"], WECOM_MSG["nonce"], WECOM_MSG["encrypt"],
                       WECOM_MSG["signature"])
    xml = crypto.wx_decrypt(WECOM["aes_key"], WECOM_MSG["encrypt"], WECOM["corp_id"])
    assert xml.startswith("<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>")
    assert "<Content><![CDATA[hello]]></Content>" in xml and "<AgentID>218</AgentID>" in xml


def test_feishu_published_vector():
    assert crypto.feishu_decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=") == "hello world"
    with pytest.raises(crypto.CryptoError):
        crypto.feishu_decrypt("other key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")


def test_round_trips_and_tampering():
    random16 = bytes(range(16))
    enc = crypto.wx_encrypt(WECOM["aes_key"], "success", WECOM["corp_id"], random16)
    assert enc == crypto.wx_encrypt(WECOM["aes_key"], "success", WECOM["corp_id"], random16)  # deterministic given the prefix
    assert crypto.wx_decrypt(WECOM["aes_key"], enc, WECOM["corp_id"]) == "success"
    tampered = enc[:-8] + ("A" if enc[-8] != "A" else "B") + enc[-7:]
    with pytest.raises(crypto.CryptoError):
        crypto.wx_decrypt(WECOM["aes_key"], tampered, WECOM["corp_id"])
    with pytest.raises(crypto.CryptoError, match="43 characters"):
        crypto.wx_key("short")
    iv = b"\x01" * 16
    fs = crypto.feishu_encrypt("test key", '{"challenge":"x"}', iv)
    assert crypto.feishu_decrypt("test key", fs) == '{"challenge":"x"}'
    body = b'{"encrypt":"abc"}'
    sig = crypto.feishu_signature("1700000000", "n1", "test key", body)
    crypto.verify_feishu("1700000000", "n1", "test key", body, sig)
    with pytest.raises(crypto.CryptoError):
        crypto.verify_feishu("1700000000", "n1", "test key", body + b" ", sig)
