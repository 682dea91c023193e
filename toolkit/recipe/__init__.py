"""The recipe: its schema (schema.py, with augment.py and peft.py for those sections and
section.py for the base of every section), loading with overrides (load.py) and the messages
for what does not validate (describe.py). Import from the submodules: task modules import
section.py while the schema imports the task registry, so this package file imports nothing."""
