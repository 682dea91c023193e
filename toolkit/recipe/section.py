"""The base of every recipe section: unknown keys are errors, assignments are validated.

Each task's own section lives next to the task (toolkit/tasks/<task>.py); schema.py builds the
`task:` union from the registered tasks, so a key of another task is an error, not a silently
ignored setting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
