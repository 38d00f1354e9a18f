"""The service plugin's domain logic, usable without Flask; every function takes a ``ServiceContext``."""
