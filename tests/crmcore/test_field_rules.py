"""One validation per entity: the same bad input through the API, the admin form (with CSRF), the
importer and the bulk API gets the same field error, in the reader's language (issue 14 §3)."""
from __future__ import annotations

import html
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.models import Contact, CustomField, Customer, Interaction
from crmcore.models.interaction import CHANNELS
from crmcore.schemas.columns import length_of
from crmcore.services import customers
from crmcore.services.importer import import_rows
from crmcore.testing.admin import admin_login, form_token

ZH = {"Accept-Language": "zh-CN"}
NAME_MAX = length_of(Customer.name)

# field, bad value, the message in English and in Chinese. Each line is one class of disagreement the
# copies had: lengths, blanks, choices, e-mail and phone formats, number ranges, codes.
CUSTOMER_CASES = [
    ("name", "x" * (NAME_MAX + 1), "At most 255 characters.", "最多 255 个字符。"),
    ("name", "   ", "This field cannot be empty.", "此字段不能为空。"),
    ("level", "L" * 33, "At most 32 characters.", "最多 32 个字符。"),
    ("email", "not-an-email", "Not a valid e-mail address.", "不是有效的邮箱地址。"),
    ("phone", "12", "Not a valid phone number.", None),
    ("kind", "alien", "Must be one of: person, organization.", None),
    ("credit_limit", "-5", "Must be a non-negative amount.", None),
    ("credit_limit", "lots", "Not a valid number.", None),
    ("currency", "R1B", "Use a three-letter ISO 4217 code such as CNY or USD.", None),
]


@pytest.fixture
def boss(client: Any, make_user: Any) -> dict[str, str]:
    """An admin logged in to the admin (session) who also holds an API token."""
    _, headers = make_user("admin", username="boss")
    admin_login(client, "boss")
    return headers


def _customers(rt: Any) -> int:
    rt.db.session.remove()
    return rt.db.session.scalar(select(func.count()).select_from(Customer))


def _admin_errors(resp: Any) -> str:
    assert resp.status_code == 200, resp.status_code  # the form again, not a redirect to the list
    return html.unescape(resp.text)


@pytest.mark.parametrize("field,value,english,chinese", CUSTOMER_CASES)
def test_customer_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, field: str,
                                                        value: str, english: str, chinese: str | None) -> None:
    row = {"name": "Good Name Ltd", field: value}
    before = _customers(rt)
    api = client.post("/api/v1/customers", json=row, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json

    bulk = client.post("/api/v1/customers/bulk", json={"customers": [{**row, "code": "BULK1"}]}, headers=boss)
    assert bulk.json["results"][0]["errors"][field] == [english], bulk.json

    with client.application.test_request_context(headers={"Accept-Language": "en"}):
        ctx = rt.context(actor=_boss(rt), source="import")
        result = next(import_rows(ctx, [{**row, "code": "IMP1"}]))
    assert result.status == "rejected" and result.errors[field] == [english], result.to_dict()

    form = {"csrf_token": form_token(client, "/admin/customer/new/"), "name": "Good Name Ltd", "kind": "organization",
            "stage": "lead", field: value}
    page = _admin_errors(client.post("/admin/customer/new/", data=form, headers={"Accept-Language": "en"}))
    assert english in page
    assert _customers(rt) == before  # nothing was written by any path

    if chinese:
        api = client.post("/api/v1/customers", json=row, headers={**boss, **ZH})
        assert api.json["errors"][field] == [chinese]
        form["csrf_token"] = form_token(client, "/admin/customer/new/")
        assert chinese in _admin_errors(client.post("/admin/customer/new/", data=form, headers=ZH))


def _boss(rt: Any) -> Any:
    from crmcore.models import User

    return rt.db.session.scalar(select(User).where(User.username == "boss"))


def test_customer_update_gets_the_same_rules(client: Any, boss: dict[str, str], rt: Any) -> None:
    created = client.post("/api/v1/customers", json={"name": "Acme"}, headers=boss).json
    patch = client.patch(f"/api/v1/customers/{created['id']}", json={"email": "nope"}, headers=boss)
    assert patch.status_code == 422 and patch.json["errors"] == {"email": ["Not a valid e-mail address."]}
    customer = rt.db.session.get(Customer, created["id"])
    form = {"csrf_token": form_token(client, f"/admin/customer/edit/?id={customer.id}"), "name": "Acme",
            "kind": "organization", "stage": "lead", "email": "nope", "version": str(customer.version)}
    page = _admin_errors(client.post(f"/admin/customer/edit/?id={customer.id}", data=form))
    assert "Not a valid e-mail address." in page
    rt.db.session.remove()
    assert rt.db.session.get(Customer, created["id"]).email is None


def test_an_erp_value_the_crm_refuses_is_named_by_the_same_rules(ctx: Any) -> None:
    assert customers.invalid_values(ctx, {"email": "a@b", "phone": "12", "name": "N" * 300, "website": "ok"}) == {
        "email": ["Not a valid e-mail address."], "phone": ["Not a valid phone number."],
        "name": ["At most 255 characters."]}
    assert customers.invalid_values(ctx, {"email": "sales@example.com", "kind": "person"}) == {}


CONTACT_CASES = [
    ("name", "x" * 256, "At most 255 characters."),
    ("name", "", "This field cannot be empty."),
    ("title", "t" * 121, "At most 120 characters."),
    ("email", "nobody-at-example", "Not a valid e-mail address."),
    ("mobile", "12", "Not a valid phone number."),
    ("qq", "12a45", "A QQ number has digits only."),
]


@pytest.mark.parametrize("field,value,english", CONTACT_CASES)
def test_contact_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, field: str,
                                                       value: str, english: str) -> None:
    customer_id = client.post("/api/v1/customers", json={"name": "Acme"}, headers=boss).json["id"]
    api = client.post("/api/v1/contacts", json={"customer_id": customer_id, "name": "Li Lei", field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    form = {"csrf_token": form_token(client, "/admin/contact/new/"), "customer": str(customer_id), "name": "Li Lei",
            field: value}
    assert english in _admin_errors(client.post("/admin/contact/new/", data=form))
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Contact)) == 0


INTERACTION_CASES = [
    ("subject", "s" * 256, "At most 255 characters."),
    ("subject", "  ", "This field cannot be empty."),
    ("direction", "sideways", "Must be one of: inbound, outbound, internal."),
    # the channel is one list (crmcore.models.interaction.CHANNEL_LABELS): the API took any text, the admin a list
    ("channel", "pigeon", "Must be one of: " + ", ".join(CHANNELS) + "."),
]


@pytest.mark.parametrize("field,value,english", INTERACTION_CASES)
def test_interaction_field_error_is_the_same_on_every_path(client: Any, boss: dict[str, str], rt: Any, field: str,
                                                           value: str, english: str) -> None:
    customer_id = client.post("/api/v1/customers", json={"name": "Acme"}, headers=boss).json["id"]
    good = {"channel": "phone", "direction": "outbound", "subject": "Called"}
    api = client.post("/api/v1/interactions", json={**good, "customer_id": customer_id, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    form = {"csrf_token": form_token(client, "/admin/interaction/new/"), "customer": str(customer_id), **good,
            field: value}
    assert english in _admin_errors(client.post("/admin/interaction/new/", data=form))
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(Interaction)) == 0


def test_an_unknown_channel_is_refused_by_the_importer_in_the_same_words(client: Any, boss: dict[str, str],
                                                                         rt: Any) -> None:
    english = "Must be one of: " + ", ".join(CHANNELS) + "."
    customer_id = client.post("/api/v1/customers", json={"name": "Acme", "code": "K1"}, headers=boss).json["id"]
    r = client.post("/api/v1/interactions/bulk", headers=boss, json={"interactions": [
        {"external_id": "I1", "customer_code": "K1", "channel": "pigeon", "subject": "Hello"},
        {"external_id": "I2", "customer_code": "K1", "channel": "wechat", "subject": "Hello"}]})
    assert r.status_code == 200 and [x["status"] for x in r.json["results"]] == ["rejected", "created"], r.json
    assert r.json["results"][0]["errors"]["channel"] == [english]
    zh = client.post("/api/v1/interactions", headers={**boss, **ZH},
                     json={"customer_id": customer_id, "channel": "pigeon", "subject": "Hello"})
    assert zh.status_code == 422 and "phone" in zh.json["errors"]["channel"][0]
    assert zh.json["errors"]["channel"] != [english]  # the reader's language


def test_an_unknown_field_is_refused_by_the_api_before_the_service(client: Any, boss: dict[str, str]) -> None:
    r = client.post("/api/v1/customers", json={"name": "Acme", "colour": "red"}, headers=boss)
    assert r.status_code == 422 and r.json["errors"] == {"colour": ["Unknown field."]}
    r = client.post("/api/v1/customers", json=["Acme"], headers=boss)
    assert r.status_code == 422 and "_schema" in r.json["errors"]


FIELD_CASES = [
    ("name", "Bad Name", "Use lower-case letters, digits and _, starting with a letter."),
    ("name", "n" * 65, "At most 64 characters."),
    ("label", "l" * 121, "At most 120 characters."),
    ("entity", "order", "Must be one of: customer, contact."),
]


@pytest.mark.parametrize("field,value,english", FIELD_CASES)
def test_custom_field_definition_error_is_the_same_in_api_and_admin(client: Any, boss: dict[str, str], rt: Any,
                                                                     field: str, value: str, english: str) -> None:
    good = {"entity": "customer", "name": "vip_level", "label": "VIP level", "type": "text"}
    api = client.post("/api/v1/custom-fields", json={**good, field: value}, headers=boss)
    assert api.status_code == 422 and api.json["errors"][field] == [english], api.json
    form = {"csrf_token": form_token(client, "/admin/custom_field/new/"), **good, "position": "0", field: value}
    assert english in _admin_errors(client.post("/admin/custom_field/new/", data=form))
    rt.db.session.remove()
    assert rt.db.session.scalar(select(func.count()).select_from(CustomField)) == 0


def test_a_blank_label_is_the_name_on_both_paths(client: Any, boss: dict[str, str], rt: Any) -> None:
    api = client.post("/api/v1/custom-fields", json={"name": "from_api", "label": ""}, headers=boss)
    assert api.status_code == 201 and api.json["label"] == "from_api"
    form = {"csrf_token": form_token(client, "/admin/custom_field/new/"), "entity": "customer", "name": "from_admin",
            "label": "", "type": "text", "position": "0"}
    assert client.post("/admin/custom_field/new/", data=form).status_code == 302
    rt.db.session.remove()
    assert rt.db.session.scalar(select(CustomField.label).where(CustomField.name == "from_admin")) == "from_admin"


@pytest.mark.parametrize("url,service,length", [("/admin/role/new/", "create_role", 64),
                                                 ("/admin/team/new/", "create_team", 120)])
def test_roles_and_teams_say_the_same_in_the_admin_and_the_service(client: Any, boss: dict[str, str], rt: Any,
                                                                   url: str, service: str, length: int) -> None:
    from crmcore.errors import ValidationError
    from crmcore.services import accounts

    name = "r" * (length + 1)
    with pytest.raises(ValidationError) as caught:
        getattr(accounts, service)(rt.context(), {"name": name, "scope": "own"} if "role" in service else {"name": name})
    assert caught.value.errors == {"name": [f"At most {length} characters."]}
    rt.db.session.rollback()
    form = {"csrf_token": form_token(client, url), "name": name, "scope": "own"}
    assert f"At most {length} characters." in _admin_errors(client.post(url, data=form))
    form = {"csrf_token": form_token(client, url), "name": "   ", "scope": "own"}
    assert "This field cannot be empty." in _admin_errors(client.post(url, data=form))


def test_schema_lengths_and_choices_are_read_from_the_models() -> None:
    from crmcore.schemas.columns import MaxLength, Text, choices_of
    from crmcore.schemas.customers import ContactSchema, CustomerSchema, InteractionSchema

    for schema, model in ((CustomerSchema(), Customer), (ContactSchema(), Contact), (InteractionSchema(), Interaction)):
        for name, field in schema.fields.items():
            if not isinstance(field, Text) or field.dump_only:
                continue
            limits = [v.n for v in field.validators if isinstance(v, MaxLength)] or [field.metadata["maxLength"]]
            assert limits == [length_of(getattr(model, name))], (model.__name__, name)  # codes: by their format
    kind = CustomerSchema().fields["kind"]
    assert [tuple(v.choices) for v in kind.validators if hasattr(v, "choices")] == [choices_of(Customer.kind)]


@pytest.mark.parametrize("field,value,english", [
    ("email", "boss-at-example", "Not a valid e-mail address."),
    ("full_name", "f" * 121, "At most 120 characters."),
    ("password", "short", "Use at least 8 characters."),
])
def test_a_user_is_checked_the_same_by_the_admin_and_the_cli(client: Any, boss: dict[str, str], rt: Any, runner: Any,
                                                             field: str, value: str, english: str) -> None:
    from crmcore.models import User

    args = {"email": "li@example.com", "full_name": "Li Lei", "password": "password123", field: value}
    from crmcore.cli import cli

    result = runner.invoke(cli, args=["create-user", "lilei", "--role", "sales", "--password", args["password"],
                                      "--email", args["email"], "--full-name", args["full_name"]])
    assert result.exit_code != 0 and english in result.output, result.output
    form = {"csrf_token": form_token(client, "/admin/user/new/"), "username": "lilei", "role": _role_id(rt, "sales"),
            "locale": "", **args}
    assert english in _admin_errors(client.post("/admin/user/new/", data=form))
    rt.db.session.remove()
    assert rt.db.session.scalar(select(User).where(User.username == "lilei")) is None


def _role_id(rt: Any, name: str) -> str:
    from crmcore.models import Role

    return str(rt.db.session.scalar(select(Role.id).where(Role.name == name)))
