"""The incidents service's contract: its word lists (and how readers name them), a model for every
RPC command and query, and the events it publishes. The service validates what it receives with
these models; the gateway builds its request models, its OpenAPI document and its typed client from
them. What can be checked from the form alone is checked here, with every other field at once (a
date not in the future, an account that says something, a mark on the body); the service's checks
that need the database (the pupil is on the roll, a category's rules) stay in the service.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from . import bodymap, documents, gateway
from .base import (Contract, Count, Event, Flag, Id, Name, NoArguments, PastMoment, RequiredText, ServiceContract,
                   Text, View, item_errors)

contract = ServiceContract("incidents")

OUTSIDE_OUTLINE = "This mark is outside the body outline. Place it on the body."

# --- word lists -------------------------------------------------------------------------------------
# Each list is the codes the service stores; the *_LABELS beside it are how a reader names them, and
# *_CHOICES how a form offers them ("Something I saw (observation)").

RECORD_TYPES = ("observation", "disclosure", "phone_call", "meeting", "parent_conversation", "agency_note",
                "online_monitoring")
RECORD_TYPE_LABELS = {
    "observation": "Observation",
    "disclosure": "Disclosure or conversation with the child",
    "phone_call": "Phone call",
    "meeting": "Meeting",
    "parent_conversation": "Conversation with a parent or carer",
    "agency_note": "Note from another agency",
    "online_monitoring": "Online-monitoring alert",
}
# Short forms for one-line titles (the chronology): "Disclosure — Safeguarding, Bullying".
RECORD_TYPE_TITLES = {**RECORD_TYPE_LABELS, "disclosure": "Disclosure", "parent_conversation": "Parent or carer",
                      "agency_note": "Agency note"}
RECORD_TYPE_CHOICES = {
    "observation": "Something I saw (observation)",
    "disclosure": "A disclosure or conversation with the child",
    "phone_call": "A phone call",
    "meeting": "A meeting",
    "parent_conversation": "A conversation with a parent or carer",
    "agency_note": "A note from another agency",
    "online_monitoring": "An online-monitoring alert",
}

LINK_ROLES = ("victim", "alleged_perpetrator", "witness", "sibling", "other")
LINK_ROLE_LABELS = {"victim": "Victim", "alleged_perpetrator": "Alleged perpetrator", "witness": "Witness",
                    "sibling": "Sibling", "other": "Other"}

SIDES = bodymap.SIDES
MARK_TYPES = ("bruise", "cut", "burn", "mark", "swelling", "other")
MARK_TYPE_LABELS = {"bruise": "Bruise", "cut": "Cut", "burn": "Burn", "mark": "Mark", "swelling": "Swelling",
                    "other": "Other"}

# What an amendment may correct, and how each field is named to a reader (and on the form).
AMENDABLE_FIELDS = {"account": "Account", "childs_words": "The child's own words", "location": "Where",
                    "others_present": "Who else was present", "occurred_at": "When it happened",
                    "record_type": "What is being recorded"}
AMENDABLE_FIELD_CHOICES = {"account": "What happened (the account)", "childs_words": "The child's own words",
                           "location": "Where it happened", "others_present": "Who else was present",
                           "occurred_at": "When it happened", "record_type": "What is being recorded"}

# A category's sensitivity decides who may read records in it (the service's policy.py). A school may
# add sensitivities of its own (lower-case letters, digits and hyphens).
SENSITIVITIES = ("safeguarding", "pastoral", "behaviour", "medical", "sen")
SENSITIVITY_LABELS = {"safeguarding": "Safeguarding", "pastoral": "Pastoral", "behaviour": "Behaviour",
                      "medical": "Medical", "sen": "SEN"}
ALERT_GROUPS = ("dsl", "slt")
ALERT_GROUP_LABELS = {"dsl": "The DSL team", "slt": "Senior leaders"}

DECISION_TYPES = ("refer_childrens_social_care", "early_help", "police", "camhs", "lado", "other_agency",
                  "no_referral")
DECISION_TYPE_LABELS = {
    "refer_childrens_social_care": "Referral to children's social care",
    "early_help": "Early help",
    "police": "Referral to the police",
    "camhs": "Referral to CAMHS",
    "lado": "Referral to the LADO",
    "other_agency": "Referral to another agency",
    "no_referral": "Decision not to refer",
}
DECISION_TYPE_CHOICES = {
    "refer_childrens_social_care": "Refer to children's social care",
    "early_help": "Early help",
    "police": "Refer to the police",
    "camhs": "Refer to CAMHS",
    "lado": "Refer to the LADO",
    "other_agency": "Refer to another agency",
    "no_referral": "Decide not to refer",
}
OUTCOME_TYPES = ("no_further_action", "monitoring", "support_in_school", "referral_made", "escalated", "other")
OUTCOME_TYPE_LABELS = {
    "no_further_action": "No further action — record is sufficient",
    "monitoring": "Monitoring",
    "support_in_school": "Support in school",
    "referral_made": "Referral made",
    "escalated": "Escalated",
    "other": "Other",
}
OUTCOME_TYPE_CHOICES = {**OUTCOME_TYPE_LABELS, "no_further_action": "No further action — the record is sufficient"}
CASE_STATUSES = ("open", "closed", "no_further_action")
CASE_STATUS_LABELS = {"open": "Open", "closed": "Closed", "no_further_action": "No further action"}

ENTRY_TYPES = ("incident", "action", "decision", "outcome", "document", "case", "amendment", "transfer")
ENTRY_TYPE_LABELS = {"incident": "Incidents", "action": "Actions", "decision": "Decisions", "outcome": "Outcomes",
                     "document": "Documents", "case": "Cases", "amendment": "Amendments", "transfer": "Transfers"}
ENTRY_TYPE_ONE = {"incident": "Incident", "action": "Action", "decision": "Decision", "outcome": "Outcome",
                  "document": "Document", "case": "Case", "amendment": "Amendment", "transfer": "Transfer"}

FLAGS = ("cp_plan", "child_in_need", "looked_after", "previously_looked_after", "early_help", "eal",
         "free_school_meals")
FLAG_LABELS = {"cp_plan": "Child protection plan", "child_in_need": "Child in need", "looked_after": "Looked after",
               "previously_looked_after": "Previously looked after", "early_help": "Early help", "eal": "EAL",
               "free_school_meals": "Free school meals"}
# The DSL's registers (the dashboard): one list of pupils per flag, in this order.
REGISTER_FLAGS = ("cp_plan", "child_in_need", "looked_after", "previously_looked_after", "early_help")
SEN_STATUSES = ("none", "sen_support", "ehcp")
SEN_STATUS_LABELS = {"none": "No SEN", "sen_support": "SEN support", "ehcp": "EHC plan"}
SEXES = ("M", "F", "X")
SEX_LABELS = {"M": "Male", "F": "Female", "X": "Not known or other"}

TRAY_STATUSES = ("pending", "attached", "dismissed")
TRAY_FILTERS = (*TRAY_STATUSES, "all")
SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_LABELS = {"low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}

ROLL_FORMATS = ("csv", "ctf")
ROLL_MODES = ("update", "full")
ACCESS_PURPOSES = ("read", "attach")

# What a reader may do with an incident (the `may` map of IncidentView, computed by policy.py).
INCIDENT_PERMISSIONS = ("amend", "attach", "add_action", "see_actions", "see_all_actions", "record_decision",
                        "record_outcome", "see_follow_up", "add_to_case", "restrict", "exclude_staff",
                        "see_documents", "see_body_map", "shared")

# --- limits (the service's own; the OpenAPI document states them) -----------------------------------
MAX_CATEGORIES = 3
MAX_ACCOUNT_CHARS = 50_000
MAX_LOCATION_CHARS = 200
MAX_CHILDS_WORDS_CHARS = 20_000
MAX_OTHERS_PRESENT_CHARS = 2_000
MAX_LINKED_PUPILS = 30
MAX_MARKS = 60
MAX_MARK_DETAIL_CHARS = 60
MAX_MARK_DESCRIPTION_CHARS = 2_000
MAX_ALERT_USERS = 200
MAX_NAME_CHARS = 200
MAX_ROLL_FILE_BYTES = 5 * 1024 * 1024
MAX_SEARCH_LIMIT = 100

# Dates and times cross the wire as ISO 8601 text; the service parses them and checks they are not
# in the future (the clock is the service's, not the model's).
When = Text(40, description="ISO 8601 date and time, e.g. 2026-03-01T09:30 (UTC unless it says otherwise)")
Day = Text(20, description="A calendar date, YYYY-MM-DD")
ClientToken = Annotated[str, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
IdList = Annotated[list[Id], Field(max_length=MAX_ALERT_USERS)]


# --- the record -------------------------------------------------------------------------------------

class LinkedPupilIn(Contract):
    pupil_id: Id = Field(description="Another pupil on roll at this school (not the pupil the record is about)")
    role: Literal[LINK_ROLES] = Field(description="This pupil's role in this incident only")


class BodyMapMarkIn(Contract):
    side: Literal[SIDES]
    x: float = Field(strict=True, ge=0, le=1, allow_inf_nan=False, description="Across the outline's box, 0 (left) to 1 (right)")
    y: float = Field(strict=True, ge=0, le=1, allow_inf_nan=False, description="Down the outline's box, 0 (top) to 1 (bottom)")
    mark_type: Literal[MARK_TYPES]
    colour: Text(MAX_MARK_DETAIL_CHARS) | None = None
    shape: Text(MAX_MARK_DETAIL_CHARS) | None = None
    size: Text(MAX_MARK_DETAIL_CHARS) | None = None
    description: Text(MAX_MARK_DESCRIPTION_CHARS) | None = None

    @model_validator(mode="after")
    def _on_the_body(self):
        # Checked with the rest of the form, so one answer names every field to correct.
        if not bodymap.on_body(self.side, self.x, self.y):
            raise PydanticCustomError("off_body", OUTSIDE_OUTLINE)
        return self


class IncidentIn(Contract):
    """A new record. The service checks what needs the roll and the clock (the pupil is on roll, the
    categories are the school's and in use, the time is not in the future)."""

    pupil_id: Id
    occurred_at: PastMoment("it happened", description="ISO 8601; may be backdated, never in the future")
    account: RequiredText(MAX_ACCOUNT_CHARS, "Write what you saw, heard or were told.",
                          description="The factual account: what was seen, heard or said")
    category_ids: list[Id] = Field(default_factory=list, max_length=MAX_CATEGORIES, description="One to three")
    alert_user_ids: IdList = Field(default_factory=list)
    alert_groups: list[Literal[ALERT_GROUPS]] = Field(default_factory=list, max_length=len(ALERT_GROUPS))
    urgent: Flag = False
    record_type: Literal[RECORD_TYPES] = "observation"
    location: Text(MAX_LOCATION_CHARS) | None = None
    childs_words: Text(MAX_CHILDS_WORDS_CHARS) | None = None
    others_present: Text(MAX_OTHERS_PRESENT_CHARS) | None = None
    dsl_informed_verbally: Flag = False
    dsl_informed_user_id: Id | None = Field(None, description="Who on the DSL team was told, when verbally")
    dsl_informed_name: Text(MAX_NAME_CHARS) | None = Field(None, description="Filled in by the gateway")
    linked_pupils: list[LinkedPupilIn] = Field(default_factory=list, max_length=MAX_LINKED_PUPILS)
    body_map: list[BodyMapMarkIn] = Field(default_factory=list, max_length=MAX_MARKS)
    client_token: ClientToken | None = Field(None, description="The form's token: the same submission sent twice "
                                                               "is recorded once")
    about_staff_ids: IdList = Field(default_factory=list, description="Staff the record is about (an allegation or "
                                    "low-level concern about an adult): it is hidden from them, whatever their role")

    @field_validator("linked_pupils")
    @classmethod
    def _each_pupil_once(cls, links: list[LinkedPupilIn], info):
        main, seen, problems = info.data.get("pupil_id"), set(), []
        for n, link in enumerate(links):
            if link.pupil_id == main:
                problems.append((n, "linked_self", "This is the pupil the record is about; they cannot also be "
                                                   "a linked pupil.", link.model_dump()))
            elif link.pupil_id in seen:
                problems.append((n, "linked_twice", "This pupil is linked twice. Link each pupil once, with one "
                                                    "role.", link.model_dump()))
            seen.add(link.pupil_id)
        if problems:
            raise item_errors(cls.__name__, problems)
        return links


class RecordIncident(Contract):
    incident: IncidentIn


class IncidentRef(Contract):
    incident_id: Id


class LinkedPupilMention(Contract):
    pupil_id: Id
    role: Literal[LINK_ROLES] | None = None


class IncidentTexts(Contract):
    account: Text(MAX_ACCOUNT_CHARS) | None = None
    childs_words: Text(MAX_CHILDS_WORDS_CHARS) | None = None
    others_present: Text(MAX_OTHERS_PRESENT_CHARS) | None = None
    linked_pupils: list[LinkedPupilMention] = Field(default_factory=list, max_length=MAX_LINKED_PUPILS)


class CheckIncidentText(Contract):
    texts: IncidentTexts


class AmendmentIn(Contract):
    field: Literal[tuple(AMENDABLE_FIELDS)] = Field(description="What to correct")
    new_value: Text(MAX_ACCOUNT_CHARS) | None = Field(None, description="The corrected value, checked like the "
                                                      "original (occurred_at as ISO 8601; empty clears an optional field)")
    reason: Text(2_000) = Field("", description="Why the record is being corrected (at least 5 characters)")


class AmendIncident(Contract):
    incident_id: Id
    amendment: AmendmentIn


class BodyMapSvg(Contract):
    incident_id: Id
    side: Literal[SIDES] | None = None


class RestrictIncident(Contract):
    incident_id: Id
    restricted: Flag
    reason: Text(2_000) | None = Field(None, description="Why it is restricted to the DSL team (required to restrict)")


class SetExcludedStaff(Contract):
    incident_id: Id
    user_ids: IdList = Field(description="Every member of staff the record is about (the whole list)")


class IncidentAccess(Contract):
    incident_id: Id
    purpose: Literal[ACCESS_PURPOSES] = "read"


# --- the roll ---------------------------------------------------------------------------------------

class SearchPupils(Contract):
    q: Text(200) = ""
    limit: int = Field(20, strict=True, ge=1, le=MAX_SEARCH_LIMIT)


class PupilRef(Contract):
    pupil_id: Id


class SiblingPair(Contract):
    pupil_id: Id
    other_pupil_id: Id


class SetStaffRelatives(Contract):
    pupil_id: Id
    user_ids: IdList = Field(description="Every member of staff who is the pupil's parent or carer (the whole list)")


class ImportRoll(Contract):
    # base64 of the file; its size is checked once decoded (at most 5 MB)
    content_b64: Annotated[str, StringConstraints(min_length=1, max_length=(MAX_ROLL_FILE_BYTES * 4) // 3 + 8)]
    file_format: Literal[ROLL_FORMATS]
    mode: Literal[ROLL_MODES] = "update"
    dry_run: Flag = False


class CategoryTree(Contract):
    include_inactive: Flag = False


Colour = Annotated[str, StringConstraints(max_length=7, pattern=r"^#[0-9A-Fa-f]{6}$")]
Sensitivity = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class CategoryIn(Contract):
    name: Name(100)  # alert e-mails may name the category
    parent_id: Id | None = Field(None, description="The parent category; null for a top-level category")
    colour: Colour = "#5b6770"
    sensitivity: Sensitivity = Field(description="safeguarding, pastoral, behaviour, medical, sen, or one of "
                                                 "the school's own")
    default_alert_groups: list[Literal[ALERT_GROUPS]] = Field(default_factory=list, max_length=len(ALERT_GROUPS))
    default_alert_user_ids: list[Id] = Field(default_factory=list, max_length=50)
    active: Flag = True


class CategoryChanges(Contract):
    """Only the fields given are changed."""

    name: Name(100) | None = None
    parent_id: Id | None = None
    colour: Colour | None = None
    sensitivity: Sensitivity | None = None
    default_alert_groups: list[Literal[ALERT_GROUPS]] | None = Field(None, max_length=len(ALERT_GROUPS))
    default_alert_user_ids: list[Id] | None = Field(None, max_length=50)
    active: Flag | None = None


class CreateCategory(Contract):
    category: CategoryIn


class UpdateCategory(Contract):
    category_id: Id
    changes: CategoryChanges


# --- follow-up: actions, decisions, outcomes, cases -------------------------------------------------

class ActionIn(Contract):
    description: Text(5_000) = Field("", description="What was done, or is to be done")
    taken_at: When | None = Field(None, description="When it was done or agreed; defaults to now")
    assigned_to_user_id: Id | None = None
    assigned_to_name: Text(MAX_NAME_CHARS) | None = Field(None, description="Filled in by the gateway")
    due_on: Day | None = Field(None, description="YYYY-MM-DD; not before taken_at")


class AddAction(Contract):
    incident_id: Id
    action: ActionIn


class CompletionIn(Contract):
    note: Text(10_000) | None = None


class CompleteAction(Contract):
    action_id: Id
    completion: CompletionIn = Field(default_factory=CompletionIn)


class ActionList(Contract):
    open_only: Flag = True


class DecisionIn(Contract):
    decision_type: Literal[DECISION_TYPES] | None = None
    reason: Text(10_000) | None = Field(None, description="Why; required for every decision")
    agency: Text(120) | None = Field(None, description="The agency referred to; required for other_agency")
    reference: Text(120) | None = None
    decided_at: When | None = Field(None, description="Defaults to now; never in the future")


class RecordDecision(Contract):
    incident_id: Id
    decision: DecisionIn


class OutcomeIn(Contract):
    outcome_type: Literal[OUTCOME_TYPES] | None = None
    note: Text(10_000) | None = Field(None, description="Required for other")


class RecordOutcome(Contract):
    incident_id: Id
    outcome: OutcomeIn


class CaseIn(Contract):
    pupil_id: Id
    title: Text(200) = ""
    owner_user_id: Id
    owner_name: Text(MAX_NAME_CHARS) | None = Field(None, description="Filled in by the gateway")
    incident_ids: list[Id] = Field(default_factory=list, max_length=500)


class OpenCase(Contract):
    case: CaseIn


class CaseRef(Contract):
    case_id: Id


class CaseIncident(Contract):
    case_id: Id
    incident_id: Id


class OwnerIn(Contract):
    owner_user_id: Id
    owner_name: Text(MAX_NAME_CHARS) | None = None


class ChangeCaseOwner(Contract):
    case_id: Id
    owner: OwnerIn


class StatusChange(Contract):
    status: Literal[CASE_STATUSES] | None = None
    reason: Text(5_000) | None = Field(None, description="Why the status is changing (required)")


class SetCaseStatus(Contract):
    case_id: Id
    change: StatusChange


class ListCases(Contract):
    status: Literal[CASE_STATUSES] | None = None
    pupil_id: Id | None = None


# --- the chronology and the front sheet -------------------------------------------------------------

class ChronologyQuery(Contract):
    pupil_id: Id
    category_id: Id | None = Field(None, description="This category and those inside it")
    date_from: Text(40) | None = Field(None, description="A date (the whole day) or a date and time")
    date_to: Text(40) | None = None
    entry_type: Text(200) | None = Field(None, description="Comma-separated: " + ", ".join(ENTRY_TYPES))
    significant: Flag | None = None


class SetSignificant(Contract):
    entry_id: Id
    significant: Flag


class IncidentSummaryIn(Contract):
    incident_id: Id
    summary: Text(300) = Field("", description="The DSL's one-line summary for the chronology; empty clears it "
                                               "(the line shows the account's first 160 characters again)")


class DashboardQuery(Contract):
    unactioned_after_days: Count = Field(5, ge=1, le=365, description="An incident with no action, decision or "
                                                                      "outcome this many days after it was "
                                                                      "recorded is listed as waiting")


class HouseholdMemberIn(Contract):
    name: Text(200) = ""
    relationship: Text(60) = Field("", description="e.g. Mother, Stepfather, Foster carer")
    parental_responsibility: Flag | None = None
    lives_with_pupil: Flag | None = None
    contact: Text(200) | None = None


class AddHouseholdMember(Contract):
    pupil_id: Id
    member: HouseholdMemberIn


class AgencyIn(Contract):
    agency: Text(120) = Field("", description="e.g. Children's social care, CAMHS, Early help")
    contact: Text(200) | None = None
    started_on: Day | None = None
    ended_on: Day | None = None


class AddAgencyInvolvement(Contract):
    pupil_id: Id
    involvement: AgencyIn


# --- the tray ---------------------------------------------------------------------------------------

class TrayAlertIn(Contract):
    external_id: RequiredText(120, "Give the monitoring system's own id for this alert.",
                              description="Your system's id for this alert: posting it again is harmless")
    pupil_identifier: RequiredText(120, "Give the pupil's UPN.", description="The pupil's UPN")
    severity: Literal[SEVERITIES]
    summary: RequiredText(5_000, "Give a summary of what was detected.", description="What was detected")
    occurred_at: PastMoment("of the alert", description="ISO 8601 date and time; not in the future")


class ReceiveTrayAlert(Contract):
    alert: TrayAlertIn


class ListTray(Contract):
    status: Literal[TRAY_FILTERS] | None = "pending"


class AttachIn(Contract):
    pupil_id: Id | None = Field(None, description="Defaults to the pupil the alert matched")
    category_ids: list[Id] = Field(default_factory=list, max_length=MAX_CATEGORIES)
    alert_user_ids: IdList = Field(default_factory=list)
    alert_groups: list[Literal[ALERT_GROUPS]] = Field(default_factory=list, max_length=len(ALERT_GROUPS))
    urgent: Flag | None = Field(None, description="Defaults to true for high and critical alerts")
    note: Text(10_000) | None = Field(None, description="The DSL's note, added to the account")


class AttachTrayItem(Contract):
    item_id: Id
    data: AttachIn


class DismissIn(Contract):
    reason: Text(2_000) = Field("", description="Why no record is needed (at least 5 characters)")


class DismissTrayItem(Contract):
    item_id: Id
    data: DismissIn


# --- answers ----------------------------------------------------------------------------------------

class Person(View):
    id: int | None = None
    name: str | None = None


class PupilSummary(View):
    id: int
    name: str
    year_group: str | None = None
    form: str | None = None


class PupilView(PupilSummary):
    """Details for readers of records; the flags and the staff who are the pupil's parents or carers for
    the DSL team only; other staff get the summary."""

    upn: str | None = None
    on_roll: bool | None = None
    flags: dict[str, bool] | None = None
    sen_status: str | None = None
    siblings: list[dict] | None = None
    staff_relative_ids: list[int] | None = None


class StaffRelativesView(View):
    pupil_id: int
    staff_relative_ids: list[int]


class PupilFound(PupilSummary):
    upn: str | None = None
    legal_name: str | None = None


class CategoryView(View):
    id: int
    name: str
    sensitivity: str
    default_alert_groups: list[str] = []


class CategoryNode(CategoryView):
    parent_id: int | None = None
    colour: str
    active: bool
    depth: int
    default_alert_user_ids: list[int] = []


class MarkView(View):
    id: int
    side: str
    x: float
    y: float
    mark_type: str
    mark_type_label: str


class AmendmentView(View):
    id: int
    field: str
    field_label: str
    new_value: str | None = None
    reason: str
    author: Person
    created_at: str


class IncidentView(View):
    id: int
    pupil: PupilSummary
    pupil_id: int
    occurred_at: str
    recorded_at: str | None = None
    recorded_by: Person
    record_type: str
    record_type_label: str
    location: str | None = None
    account: str
    childs_words: str | None = None
    others_present: str | None = None
    urgent: bool
    categories: list[CategoryView]
    linked_pupils: list[dict]
    body_map: list[MarkView]
    amendments: list[AmendmentView]
    current: dict
    shows_original: bool
    may: dict[str, bool] = Field(default_factory=dict, description="What the reader may do with this record: "
                                                                   + ", ".join(INCIDENT_PERMISSIONS))
    warnings: list[dict] | None = None
    replayed: bool | None = None
    shared: bool = Field(False, description="Read as shared with an alerted member of staff: without linked pupils, "
                                            "body map, corrections' originals or follow-up")
    restricted: bool = Field(False, description="Restricted to the DSL team")
    summary: str | None = Field(None, description="The DSL's one-line summary for the chronology (the DSL team only)")
    restriction: dict | None = Field(None, description="Who restricted it, when and why (the DSL team only)")
    excluded_staff_ids: list[int] | None = Field(None, description="Staff the record is about (the DSL team only)")


class RestrictionView(View):
    incident_id: int
    restricted: bool
    restriction: dict | None = None


class ExcludedStaffView(View):
    incident_id: int
    excluded_staff_ids: list[int]


class AmendedView(View):
    amendment: AmendmentView
    incident: IncidentView


class TextWarnings(View):
    warnings: list[dict]


class IncidentAccessView(View):
    incident_id: int
    pupil_id: int
    school_id: int


class ImportReport(View):
    added: list[dict]
    changed: list[dict]
    left: list[dict]
    unchanged: int
    dry_run: bool


class ActionView(View):
    id: int
    incident_id: int
    description: str
    taken_at: str | None = None
    assigned_to: Person | None = None
    due_on: str | None = None
    created_by: Person
    completed: bool


class DecisionView(View):
    id: int
    incident_id: int
    decision_type: str


class OutcomeView(View):
    id: int
    incident_id: int
    outcome_type: str


class CaseSummary(View):
    id: int
    title: str
    status: str
    status_label: str
    pupil: PupilSummary
    owner: Person
    opened_at: str | None = None
    closed_at: str | None = None
    incident_count: int


class CaseView(CaseSummary):
    incidents: list[dict]
    history: list[dict]


class ChronologyEntryView(View):
    id: int
    entry_type: str
    occurred_at: str
    title: str
    incident_id: int | None = None
    ref_id: str | int
    role: str | None = None
    significant: bool
    # For the DSL team only (None for everyone else): what the line is about, so three incidents of one
    # category on one day are three lines a reader can tell apart.
    excerpt: str | None = Field(None, description="The DSL's summary, or the account's first 160 characters")
    recorded_by: str | None = None
    outcome: str | None = Field(None, description="The latest outcome's label")


class IncidentSummaryView(View):
    incident_id: int
    summary: str | None = None


class DashboardIncident(View):
    incident_id: int
    pupil: PupilSummary
    recorded_at: str
    categories: list[str]
    urgent: bool
    days_waiting: int


class CategoryCount(View):
    category: str
    count: int


class RegisterEntry(View):
    pupil: PupilSummary
    latest: dict | None = Field(None, description="The latest chronology line: occurred_at, title, incident_id")
    open_case: dict | None = Field(None, description="id, title, status of the pupil's open case")


class Register(View):
    flag: str
    label: str
    pupils: list[RegisterEntry]


class DashboardView(View):
    """The DSL's day: what waits, what is overdue, what came in, and the registers."""

    unactioned: list[DashboardIncident]
    overdue_actions: list[ActionView]
    tray_waiting: int
    week_starts_on: str
    term: dict = Field(description="name, starts_on")
    counts_week: list[CategoryCount]
    counts_term: list[CategoryCount]
    registers: list[Register]


class ChronologyView(View):
    pupil: dict
    entries: list[ChronologyEntryView]
    hidden_needing_step_up: int = Field(0, description="Safeguarding lines shown once the reader confirms their "
                                                       "second factor again")


class GzipView(View):
    gzip_b64: str


class FrontSheetView(View):
    pupil: dict
    flags: dict | None = None  # the DSL team only
    household: list[dict] | None = None  # the DSL team only
    siblings: list[dict]
    counts: dict
    withheld: list[str]
    agencies: list[dict] | None = None
    open_cases: list[dict] | None = None


class TrayReceipt(View):
    id: int
    status: str
    matched: bool


class TrayReceived(View):
    item: TrayReceipt
    created: bool


class TrayItemView(View):
    id: int
    status: str
    matched: bool
    severity: str
    summary: str
    external_id: str
    incident_id: int | None = None


class TrayAttached(View):
    tray_item: TrayItemView
    incident: IncidentView


# --- the method table -------------------------------------------------------------------------------

RECORD_CONFLICT = ("This concern is already being saved from another click or tab. "
                   "Check your alerts before recording it again.")

health = contract.method("health", NoArguments, str, actor=False)
# the record
record_incident = contract.method("record_incident", RecordIncident, IncidentView, conflict=RECORD_CONFLICT)
get_incident = contract.method("get_incident", IncidentRef, IncidentView)
amend_incident = contract.method("amend_incident", AmendIncident, AmendedView)
check_incident_text = contract.method("check_incident_text", CheckIncidentText, TextWarnings)
body_map_svg = contract.method("body_map_svg", BodyMapSvg, str)
body_map_outline = contract.method("body_map_outline", NoArguments, dict[str, Any])
check_incident_access = contract.method("check_incident_access", IncidentAccess, IncidentAccessView)
restrict_incident = contract.method("restrict_incident", RestrictIncident, RestrictionView)
set_excluded_staff = contract.method("set_excluded_staff", SetExcludedStaff, ExcludedStaffView)
list_categories = contract.method("list_categories", NoArguments, list[CategoryView])
# the roll
search_pupils = contract.method("search_pupils", SearchPupils, list[PupilFound])
import_roll = contract.method("import_roll", ImportRoll, ImportReport, timeout=120)
get_pupil = contract.method("get_pupil", PupilRef, PupilView)
list_siblings = contract.method("list_siblings", PupilRef, list[dict])
link_siblings = contract.method("link_siblings", SiblingPair, list[dict])
unlink_siblings = contract.method("unlink_siblings", SiblingPair, list[dict])
set_staff_relatives = contract.method("set_staff_relatives", SetStaffRelatives, StaffRelativesView)
list_category_tree = contract.method("list_category_tree", CategoryTree, list[CategoryNode])
create_category = contract.method("create_category", CreateCategory, CategoryNode)
update_category = contract.method("update_category", UpdateCategory, CategoryNode)
# follow-up
add_action = contract.method("add_action", AddAction, ActionView)
complete_action = contract.method("complete_action", CompleteAction, ActionView)
list_my_actions = contract.method("list_my_actions", ActionList, list[ActionView])
list_school_actions = contract.method("list_school_actions", ActionList, list[ActionView])
list_incident_actions = contract.method("list_incident_actions", IncidentRef, list[ActionView])
record_decision = contract.method("record_decision", RecordDecision, DecisionView)
list_decisions = contract.method("list_decisions", IncidentRef, list[DecisionView])
record_outcome = contract.method("record_outcome", RecordOutcome, OutcomeView)
list_outcomes = contract.method("list_outcomes", IncidentRef, list[OutcomeView])
open_case = contract.method("open_case", OpenCase, CaseView)
add_incident_to_case = contract.method("add_incident_to_case", CaseIncident, CaseView)
change_case_owner = contract.method("change_case_owner", ChangeCaseOwner, CaseView)
set_case_status = contract.method("set_case_status", SetCaseStatus, CaseView)
list_cases = contract.method("list_cases", ListCases, list[CaseSummary])
get_case = contract.method("get_case", CaseRef, CaseView)
# the chronology and the front sheet
get_chronology = contract.method("get_chronology", ChronologyQuery, ChronologyView, timeout=30)
get_chronology_gzip = contract.method("get_chronology_gzip", ChronologyQuery, GzipView, timeout=30)
set_significant = contract.method("set_significant", SetSignificant, ChronologyEntryView)
set_incident_summary = contract.method("set_incident_summary", IncidentSummaryIn, IncidentSummaryView)
get_dashboard = contract.method("get_dashboard", DashboardQuery, DashboardView, timeout=30)
get_front_sheet = contract.method("get_front_sheet", PupilRef, FrontSheetView)
add_household_member = contract.method("add_household_member", AddHouseholdMember, dict[str, Any])
add_agency_involvement = contract.method("add_agency_involvement", AddAgencyInvolvement, dict[str, Any])
# the tray
receive_tray_alert = contract.method("receive_tray_alert", ReceiveTrayAlert, TrayReceived)
list_tray = contract.method("list_tray", ListTray, list[TrayItemView])
attach_tray_item = contract.method("attach_tray_item", AttachTrayItem, TrayAttached)
dismiss_tray_item = contract.method("dismiss_tray_item", DismissTrayItem, TrayItemView)


# --- events -----------------------------------------------------------------------------------------

class IncidentRecorded(Event):
    incident_id: Id
    pupil_id: Id
    recorded_by: Id
    category_ids: list[Id]
    category_names: list[Annotated[str, StringConstraints(max_length=200)]]
    urgent: bool
    alert_user_ids: list[Id]
    alert_groups: list[Annotated[str, StringConstraints(max_length=40)]]
    linked_pupil_ids: list[Id] = []
    # Staff the record names (the adult it is about, a parent or carer of one of its pupils): never alerted.
    excluded_user_ids: list[Id] = []


class IncidentAmended(Event):
    incident_id: Id
    pupil_id: Id
    amendment_id: Id
    field: Annotated[str, StringConstraints(max_length=40)]
    amended_by: Id
    # Who recorded the incident: told of an amendment someone else made (the alerts service).
    recorded_by: Id | None = None


class ActionAssigned(Event):
    action_id: Id
    incident_id: Id
    assigned_to: Id
    assigned_by: Id
    due_on: Annotated[str, StringConstraints(max_length=10)] | None = None


class ActionCompleted(Event):
    """An action was marked done: its owner's due-date reminders stop."""

    action_id: Id
    incident_id: Id
    completed_by: Id


class TrayItemReceived(Event):
    tray_item_id: Id
    severity: Literal[SEVERITIES]
    integration_id: Id
    matched: bool


class RollImported(Event):
    imported_by: Id
    mode: Literal[ROLL_MODES]
    added_count: Count
    changed_count: Count
    left_pupil_ids: list[Id]


incident_recorded = contract.event("incident_recorded", IncidentRecorded)
incident_amended = contract.event("incident_amended", IncidentAmended)
action_assigned = contract.event("action_assigned", ActionAssigned)
action_completed = contract.event("action_completed", ActionCompleted)
tray_item_received = contract.event("tray_item_received", TrayItemReceived)
roll_imported = contract.event("roll_imported", RollImported)

on_document_stored = contract.handles(documents.document_stored, "on_document_stored")
on_school_saved = contract.handles(gateway.school_saved, "on_school_saved")
