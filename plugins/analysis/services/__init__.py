"""The analysis plugin's domain logic, usable without Flask: each module one analysis."""
