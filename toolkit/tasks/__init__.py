"""Tasks: one file each behind the `Task` interface (base.py), listed in registry.py."""
