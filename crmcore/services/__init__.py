"""Domain logic, usable without Flask: every write goes through a function here."""
