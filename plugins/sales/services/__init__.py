"""The sales plugin's domain logic, usable without Flask; every write goes through these."""
