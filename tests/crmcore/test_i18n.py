"""Translations: complete catalogues, and the language each reader gets."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "crmcore" / "translations"
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
SOURCES = ("crmcore", "plugins", "adapters")  # the core, built-in plugins and adapters share one catalogue


def _source_messages() -> set[str]:
    found = set()
    for source in SOURCES:
        for _file, _line, message, _comments, _ctx in extract_from_dir(str(ROOT / source), METHODS, keywords=KEYWORDS):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _catalogue(lang: str):
    with (CATALOGUES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, abort_invalid=True)  # a malformed entry (e.g. a msgid without msgstr) fails


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_marked_string_is_in_the_catalogue(lang):
    """Fails when a user-facing string was added without `make translations` (and, for
    zh_CN, without a translation)."""
    catalogue = _catalogue(lang)
    missing = sorted(m for m in _source_messages() if m not in catalogue)
    assert missing == [], f"run `make translations`; not in {lang}: {missing[:20]}"
    if lang == "zh_CN":
        untranslated = sorted(m.id for m in catalogue if m.id and not m.string and m.id in _source_messages())
        assert untranslated == [], f"translate in {lang}: {untranslated[:20]}"
        fuzzy = sorted(m.id for m in catalogue if m.id and m.fuzzy)
        assert fuzzy == [], f"check fuzzy entries in {lang}: {fuzzy[:20]}"


def test_placeholders_survive_translation():
    import re

    for message in _catalogue("zh_CN"):
        if message.id and message.string:
            want = sorted(re.findall(r"%\(\w+\)s|\{\w+\}", message.id))
            got = sorted(re.findall(r"%\(\w+\)s|\{\w+\}", message.string))
            assert want == got, message.id


def test_api_errors_follow_accept_language_then_user_setting(client, make_user, rt):
    user, h = make_user("analyst")
    en = client.post("/api/v1/customers", json={"name": "X"}, headers=h)
    assert en.status_code == 403 and "You need the permission" in en.json["message"]
    zh = client.post("/api/v1/customers", json={"name": "X"}, headers={**h, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert "权限" in zh.json["message"]
    _, rep = make_user("sales")
    r = client.post("/api/v1/customers", json={"kind": "alien"}, headers={**rep, "Accept-Language": "zh-CN"})
    assert r.status_code == 422
    assert r.json["errors"]["name"] == ["缺少必填字段。"]
    assert "必须是以下之一" in r.json["errors"]["kind"][0]
    # the user's own setting wins over the browser
    s = rt.db.session
    user = s.merge(user)
    user.locale = "zh_CN"
    s.commit()
    r = client.get("/api/v1/customers/999999", headers={**h, "Accept-Language": "en"})
    assert r.status_code == 404 and "不存在" in r.json["message"]


def test_services_outside_a_request_speak_the_source_language(ctx):
    from crmcore.errors import NotFound
    from crmcore.services import customers

    with pytest.raises(NotFound) as info:
        customers.get_customer(ctx, 12345)
    assert str(info.value) == "Customer 12345 does not exist."


@pytest.mark.parametrize("lang,money,usd,number,percent", [
    ("zh-CN", "¥1,234.50", "US$99.00", "1,234,567.5", "12.5%"),
    ("en", "CN¥1,234.50", "$99.00", "1,234,567.5", "12.5%"),
    ("de", "CN¥1,234.50", "$99.00", "1,234,567.5", "12.5%"),  # not offered: the default (en)
])
def test_money_and_numbers_follow_the_readers_locale(app, lang, money, usd, number, percent):
    from decimal import Decimal

    from crmcore.i18n import local_money, local_number, local_percent

    with app.test_request_context(headers={"Accept-Language": lang}):
        assert local_money(Decimal("1234.5"), "CNY") == money
        assert local_money(Decimal("99"), "usd") == usd
        assert local_number(Decimal("1234567.5")) == number
        assert local_percent(Decimal("0.125")) == percent
        assert local_money(None, "CNY") == ""


def test_email_and_url_fields_work_after_the_messages_are_installed(app):
    """A plugin's schema with fields.Email / fields.Url, defined after an app was built, still
    builds (marshmallow wants str messages there), and its errors are in the catalogue that the
    API's error answer looks them up in."""
    import pytest as _pytest
    from marshmallow import Schema, ValidationError, fields

    from crmcore.api import _translate

    class Later(Schema):
        email = fields.Email()
        site = fields.Url()

    with _pytest.raises(ValidationError) as err:
        Later().load({"email": "nope", "site": "nope"})
    assert err.value.messages == {"email": ["Not a valid email address."], "site": ["Not a valid URL."]}
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        translated = _translate(err.value.messages)
    assert translated["email"][0] != "Not a valid email address." and translated["site"][0] != "Not a valid URL."


def test_template_translations_survive_jinjas_formatting():
    """Jinja's gettext always applies ``%`` formatting: a lone ``%`` in a translation of a
    template string breaks the page (a 500), so it must be written ``%%`` or avoided."""
    templates = set()
    for source in SOURCES:
        for _f, _l, message, _c, _x in extract_from_dir(str(ROOT / source), [METHODS[0]], keywords=KEYWORDS):
            templates.add(message if isinstance(message, str) else message[0])
    class AnyValue(dict):
        def __missing__(self, key):
            return 1  # fits %(name)s and %(name)d

    for message in _catalogue("zh_CN"):
        if message.id in templates and message.string:
            message.string % AnyValue()  # ValueError on a lone %
