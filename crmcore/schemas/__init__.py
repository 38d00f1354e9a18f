"""Marshmallow schemas for the REST API, one module per entity family."""
from .limits import install

install()  # text and integer limits on every marshmallow field, before any schema is used
