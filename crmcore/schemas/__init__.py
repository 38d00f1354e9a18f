"""Marshmallow schemas for the REST API, one module per entity family."""
