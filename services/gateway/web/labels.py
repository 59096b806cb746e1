"""How the pages name the values the services store (the services own the lists; the API carries
the codes). Kept in one place so every page says the same thing."""
from __future__ import annotations

RECORD_TYPES = {
    "observation": "Something I saw (observation)",
    "disclosure": "A disclosure or conversation with the child",
    "phone_call": "A phone call",
    "meeting": "A meeting",
    "parent_conversation": "A conversation with a parent or carer",
    "agency_note": "A note from another agency",
    "online_monitoring": "An online-monitoring alert",
}
RECORD_TYPE_SHORT = {
    "observation": "Observation", "disclosure": "Disclosure or conversation with the child",
    "phone_call": "Phone call", "meeting": "Meeting", "parent_conversation": "Conversation with a parent or carer",
    "agency_note": "Note from another agency", "online_monitoring": "Online-monitoring alert",
}
LINK_ROLES = {"victim": "Victim", "alleged_perpetrator": "Alleged perpetrator", "witness": "Witness",
              "sibling": "Sibling", "other": "Other"}
MARK_TYPES = {"bruise": "Bruise", "cut": "Cut", "burn": "Burn", "mark": "Mark", "swelling": "Swelling",
              "other": "Other"}
AMENDABLE_FIELDS = {"account": "What happened (the account)", "childs_words": "The child's own words",
                    "location": "Where it happened", "others_present": "Who else was present",
                    "occurred_at": "When it happened", "record_type": "What is being recorded"}
DECISION_TYPES = {
    "refer_childrens_social_care": "Refer to children's social care",
    "early_help": "Early help",
    "police": "Refer to the police",
    "camhs": "Refer to CAMHS",
    "lado": "Refer to the LADO",
    "other_agency": "Refer to another agency",
    "no_referral": "Decide not to refer",
}
OUTCOME_TYPES = {
    "no_further_action": "No further action — the record is sufficient",
    "monitoring": "Monitoring",
    "support_in_school": "Support in school",
    "referral_made": "Referral made",
    "escalated": "Escalated",
    "other": "Other",
}
CASE_STATUSES = {"open": "Open", "closed": "Closed", "no_further_action": "No further action"}
ENTRY_TYPES = {"incident": "Incidents", "action": "Actions", "decision": "Decisions", "outcome": "Outcomes",
               "document": "Documents", "case": "Cases", "amendment": "Amendments", "transfer": "Transfers"}
ENTRY_TYPE_ONE = {"incident": "Incident", "action": "Action", "decision": "Decision", "outcome": "Outcome",
                  "document": "Document", "case": "Case", "amendment": "Amendment", "transfer": "Transfer"}
FLAGS = {"cp_plan": "Child protection plan", "child_in_need": "Child in need", "looked_after": "Looked after",
         "previously_looked_after": "Previously looked after", "eal": "EAL",
         "free_school_meals": "Free school meals"}
SEN_STATUSES = {"none": "No SEN", "sen_support": "SEN support", "ehcp": "EHC plan"}
SENSITIVITIES = {"safeguarding": "Safeguarding", "pastoral": "Pastoral", "behaviour": "Behaviour",
                 "medical": "Medical", "sen": "SEN"}
SEVERITIES = {"low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
SEXES = {"M": "Male", "F": "Female", "X": "Not known or other"}


def label(table: dict, code) -> str:
    """The label for a code; an unknown code is shown as it is rather than hidden."""
    if code is None:
        return ""
    return table.get(code, str(code).replace("_", " ").capitalize())
