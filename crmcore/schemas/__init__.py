"""Marshmallow schemas for the REST API, one module per entity family."""
from ..messages_marshmallow import install as install_messages
from .limits import install

# Before any schema class is defined: validators built in a class body (OneOf, Email) keep the default
# message they see then, so the translated ones must be in place first, whatever imports a schema first.
install_messages()
install()  # text and integer limits on every marshmallow field, before any schema is used
