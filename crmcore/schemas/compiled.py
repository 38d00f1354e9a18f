"""A schema's load compiled once for the many rows it loads: the same data or errors, without the per-row machinery.

Each field's own conversion (``field._deserialize``, with the limits every field has) and its validators
run directly; a row this plain path does not take (a value a field refuses, a missing required field, an
unknown key, a field or schema with hooks) is loaded by the schema itself, so the data and the errors are
always exactly the schema's.
"""
from __future__ import annotations

import decimal
from types import FunctionType
from typing import Any, Callable, TypeGuard

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing
from marshmallow.validate import Validator

from .columns import Text
from .limits import storable_text

#: ``check(data, partial)``: the loaded data, or :class:`_Slow`
Check = Callable[[Any, bool], dict[str, Any]]
Convert = Callable[[Any, str, Any, bool], Any]
_CHECK = "_crm_compiled_load"  # where a schema keeps its compiled check


class _Slow(Exception):
    """The row goes through the schema's own load (it is refused, or takes a path not compiled)."""


def load(schema: Schema, data: Any, *, partial: bool = False) -> dict[str, Any]:
    """``schema.load(data, partial=partial)``: the same result, or the same marshmallow ``ValidationError``."""
    try:
        check: Check | None = schema.__dict__[_CHECK]
    except KeyError:
        check = schema.__dict__[_CHECK] = _compile(schema)
    if check is not None:
        try:
            return check(data, partial)
        except _Slow:
            pass
    result: dict[str, Any] = schema.load(data, partial=partial)
    return result


def _compile(schema: Schema, unknown: str | None = None) -> Check | None:
    """The schema's plain path, or None when it has hooks or options it does not follow."""
    unknown = unknown or schema.unknown
    if any(schema._hooks.values()) or schema.many or unknown not in (RAISE, EXCLUDE) or schema.partial:
        return None
    plan: list[tuple[str, str, fields.Field[Any], Convert]] = []
    for name, field in schema.load_fields.items():
        attribute = field.attribute or name
        if field.pre_load or field.post_load or "." in attribute:
            return None
        key = field.data_key if field.data_key is not None else name
        plan.append((key, attribute, field, _converter(field)))
    keys = frozenset(key for key, *_rest in plan)
    strict = unknown == RAISE

    def check(data: Any, partial: bool) -> dict[str, Any]:
        if type(data) is not dict or (strict and not keys.issuperset(data)):
            raise _Slow
        out: dict[str, Any] = {}
        for key, attribute, field, convert in plan:
            value = data.get(key, missing)
            if value is missing:
                if partial:
                    continue
                if field.required:
                    raise _Slow
                default = field.load_default
                if default is not missing:
                    out[attribute] = default() if callable(default) else default
                continue
            if value is None:
                if not field.allow_none:
                    raise _Slow
                out[attribute] = None
                continue
            out[attribute] = convert(value, key, data, partial)
        return out

    return check


def _plain_list(field: fields.Field[Any]) -> bool:
    """A ``fields.List``, or a subclass that loads as one (e.g. a document's lines)."""
    return isinstance(field, fields.List) and type(field)._deserialize is fields.List._deserialize


def _plain_nested(field: Any) -> TypeGuard[fields.Nested]:
    """A ``fields.Nested``, or a subclass that only says each item loads whole (``loads_whole``: never
    ``partial``, the lines replacing all of a document's)."""
    return type(field) is fields.Nested or (isinstance(field, fields.Nested) and getattr(field, "loads_whole", False))


def _converter(field: fields.Field[Any]) -> Convert:
    """The field's conversion and validators; a list of nested records compiled in turn."""
    inner = getattr(field, "inner", None)
    if _plain_list(field) and _plain_nested(inner) and not inner.many and inner.unknown is None \
            and not (inner.pre_load or inner.post_load or inner.validators):
        nested = _compile(inner.schema)
        if nested is not None:
            validate = field._validate
            whole = bool(getattr(inner, "loads_whole", False))

            def convert_list(value: Any, key: str, data: Any, partial: bool) -> Any:
                if type(value) is not list:
                    raise _Slow
                out = [nested(item, False if whole else partial) for item in value]
                try:
                    validate(out)
                except ValidationError:
                    raise _Slow from None
                return out

            return convert_list
    plain_text = _text(field)
    if plain_text is not None:
        return plain_text
    convert = _converter_of(field)
    if not _pure(field):
        return convert
    seen: dict[tuple[type, Any], Any] = {}

    def convert_seen(value: Any, key: str, data: Any, partial: bool) -> Any:
        """The value's conversion as it was the last time (a column of a file repeats its values: a product,
        a quantity, a status); new values converted, and kept while there are not too many."""
        kind = type(value)
        if kind not in _KEYS:
            return convert(value, key, data, partial)
        try:
            return seen[kind, value]
        except KeyError:
            out = convert(value, key, data, partial)
            if len(seen) >= _SEEN_MAX:
                seen.clear()
            seen[kind, value] = out
            return out

    return convert_seen


def _converter_of(field: fields.Field[Any]) -> Convert:
    """The field's own conversion and validators (a refused value: :class:`_Slow`)."""
    deserialize, validate = field._deserialize, field._validate
    if type(field) is fields.Decimal:
        deserialize = _decimal(field)

    def convert(value: Any, key: str, data: Any, partial: bool) -> Any:
        try:
            out = deserialize(value, key, data, partial=partial)
            validate(out)
        except ValidationError:
            raise _Slow from None
        return out

    return convert


def _text(field: fields.Field[Any]) -> Convert | None:
    """A text field's conversion without marshmallow's layers, for text (a file's cells): the limits every text
    has (``limits.storable_text``), the field's trim and blank-as-none (:class:`~crmcore.schemas.columns.Text`),
    then its validators called as marshmallow calls them; each value of a row is new (a code, a name), so nothing is
    kept. Anything else (not text, text refused) goes the field's own way; None for a field of other code."""
    kind = type(field)
    if isinstance(field, Text) and kind is Text:
        strip, blank_none = field.strip, field.blank_none
    elif kind is fields.String:
        strip = blank_none = False
    else:
        return None
    rules = tuple(field.validators)
    slow = _converter_of(field)

    def convert_text(value: Any, key: str, data: Any, partial: bool) -> Any:
        if type(value) is not str or not storable_text(value):
            return slow(value, key, data, partial)  # the limits' own message
        out = value.strip() if strip else value
        if out == "" and blank_none:
            return None
        try:
            for rule in rules:
                if rule(out) is False and not isinstance(rule, Validator):  # a function saying no, as marshmallow reads it
                    raise _Slow
        except ValidationError:
            raise _Slow from None
        return out

    return convert_text


def _decimal(field: fields.Decimal) -> Callable[..., Any]:
    """``fields.Decimal._deserialize`` without its layers for text: ``Decimal(text)`` rounded to the field's places,
    as it does; any other value, and text it would refuse or that is not a finite number, go through its own code."""
    deserialize, places, rounding = field._deserialize, field.places, field.rounding

    def convert(value: Any, attr: Any, data: Any, partial: Any = None) -> Any:
        if type(value) is str:
            try:
                num = decimal.Decimal(value)
                if num.is_finite():
                    return num if places is None else num.quantize(places, rounding=rounding)
            except ArithmeticError:  # not a number, or too large for its places: the field's own error
                pass
        return deserialize(value, attr, data, partial=partial)

    return convert


# Fields whose conversion depends on the value alone and gives a value that cannot change (a number, a date,
# text), and the input types kept: a refused value is never kept, it goes through the schema each time.
_PURE_FIELDS = (fields.Integer, fields.Decimal, fields.String, fields.Date, fields.Boolean)
_KEYS = frozenset((str, int, bool))
_SEEN_MAX = 4096


def _pure(field: fields.Field[Any]) -> bool:
    """A field of the kinds above whose own code is theirs or the column fields' (``crmcore.schemas.columns``)
    and whose validators judge the value alone (marshmallow's, or a schema module's plain functions: what
    needs the database is a service's check, never a field's)."""
    kind = type(field)
    if not issubclass(kind, _PURE_FIELDS) or kind.__module__ not in ("marshmallow.fields", "crmcore.schemas.columns"):
        return False
    if getattr(field, "context", None):
        return False
    return all(isinstance(v, Validator) or (isinstance(v, FunctionType) and ".schemas" in v.__module__)
               for v in field.validators)


# ---- dump --------------------------------------------------------------------------------------------------------

#: tests set it: every compiled dump is compared with the schema's own (``tests/conftest.py``)
VERIFY = False
_DUMP_PLAN = "_crm_compiled_dump"


def dump(schema: Schema, obj: Any, *, many: bool | None = None) -> Any:
    """``schema.dump(obj, many=many)``: the same result, without marshmallow's layers per field and value (its
    accessor, ``get_value`` and ``serialize``): each field's own ``_serialize`` runs directly. A schema with dump
    hooks or its own attribute access, and fields with their own ``serialize`` or ``get_value`` or a dotted
    attribute, take marshmallow's path (the whole schema, or that field)."""
    plan = schema.__dict__.get(_DUMP_PLAN)
    if plan is None or plan[0] is not schema.dump_fields:  # a copy with other fields (``only``) has its own
        plan = schema.__dict__[_DUMP_PLAN] = (schema.dump_fields, _dump_plan(schema))
    one = plan[1]
    if one is None:
        return Schema.dump(schema, obj, many=many)
    many = schema.many if many is None else bool(many)
    if VERIFY and many and obj is not None:
        obj = list(obj)
    out = [one(item) for item in obj] if many and obj is not None else one(obj)
    if VERIFY:
        expected = Schema.dump(schema, obj, many=many)
        assert out == expected, f"compiled dump of {type(schema).__name__} differs: {out!r} != {expected!r}"
    return out


def _dump_plan(schema: Schema) -> Callable[[Any], dict[str, Any]] | None:
    from marshmallow.decorators import POST_DUMP, PRE_DUMP
    from marshmallow.utils import _get_value_for_key

    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] or schema.dict_class is not dict \
            or type(schema).get_attribute is not Schema.get_attribute:
        return None
    accessor = schema.get_attribute
    # (output key, attribute name, serialize(value, attr, obj), the key read or None, dump default): None for a
    # field that reads no attribute (Method, Function, Constant) or is left to its own ``serialize``
    steps: list[tuple[str, str, Callable[[Any, str, Any], Any], str | None, Any]] = []
    for attr_name, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else attr_name
        kind = type(field)
        check_key = attr_name if field.attribute is None else field.attribute
        if kind.serialize is not fields.Field.serialize or kind.get_value is not fields.Field.get_value \
                or "." in check_key:
            steps.append((key, attr_name, _own_serialize(field, accessor), None, None))
        elif not field._CHECK_ATTRIBUTE:
            steps.append((key, attr_name, field._serialize, None, None))
        else:
            steps.append((key, attr_name, _serializer(field), check_key, field.dump_default))

    def one(obj: Any) -> dict[str, Any]:
        get = _get_value_for_key if hasattr(obj, "__getitem__") else getattr
        ret: dict[str, Any] = {}
        for key, attr_name, serialize, check_key, default in steps:
            value = None
            if check_key is not None:
                value = get(obj, check_key, missing)
                if value is missing:
                    value = default() if callable(default) else default
                    if value is missing:
                        continue
            value = serialize(value, attr_name, obj)
            if value is not missing:
                ret[key] = value
        return ret

    return one


def _own_serialize(field: fields.Field[Any], accessor: Any) -> Callable[[Any, str, Any], Any]:
    """The field's own ``serialize``, with the schema's accessor (marshmallow's path for that field)."""
    def serialize(_value: Any, attr: str, obj: Any) -> Any:
        return field.serialize(attr, obj, accessor=accessor)

    return serialize


def _serializer(field: fields.Field[Any]) -> Callable[[Any, str, Any], Any]:
    """``field._serialize``; a nested schema (alone or in a list) dumped by :func:`dump` in turn."""
    if type(field) is fields.Nested:
        return _nested(field)
    inner = getattr(field, "inner", None)
    if type(field) is fields.List and type(inner) is fields.Nested:
        each = _nested(inner)

        def serialize_list(value: Any, attr: str, obj: Any) -> Any:
            if value is None:
                return None
            return [each(item, attr, obj) for item in value]

        return serialize_list
    return field._serialize


def _nested(field: fields.Nested) -> Callable[[Any, str, Any], Any]:
    def serialize_nested(value: Any, attr: str, obj: Any) -> Any:
        schema = field.schema
        if value is None:
            return None
        return dump(schema, value, many=schema.many or field.many)

    return serialize_nested
