"""How the pages name the codes the services store. The words are the incidents contract's (one
place for a word list and its labels); the names here are the ones the templates use."""
from __future__ import annotations

from services.common.contracts import incidents as words

RECORD_TYPES = words.RECORD_TYPE_CHOICES  # as the form offers them
RECORD_TYPE_CHOICES = words.RECORD_TYPE_CHOICES
RECORD_TYPE_SHORT = words.RECORD_TYPE_LABELS
LINK_ROLES = words.LINK_ROLE_LABELS
MARK_TYPES = words.MARK_TYPE_LABELS
AMENDABLE_FIELDS = words.AMENDABLE_FIELD_CHOICES
DECISION_TYPES = words.DECISION_TYPE_CHOICES
OUTCOME_TYPES = words.OUTCOME_TYPE_CHOICES
CASE_STATUSES = words.CASE_STATUS_LABELS
ENTRY_TYPES = words.ENTRY_TYPE_LABELS
ENTRY_TYPE_ONE = words.ENTRY_TYPE_ONE
FLAGS = words.FLAG_LABELS
SEN_STATUSES = words.SEN_STATUS_LABELS
SENSITIVITIES = words.SENSITIVITY_LABELS
SEVERITIES = words.SEVERITY_LABELS
SEXES = words.SEX_LABELS
ALERT_GROUPS = words.ALERT_GROUP_LABELS


def label(table: dict, code) -> str:
    """The label for a code; an unknown code is shown as it is rather than hidden."""
    if code is None:
        return ""
    return table.get(code, str(code).replace("_", " ").capitalize())
