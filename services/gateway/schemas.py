"""The JSON API's request and response models, built from the services' contracts: a word list, a
limit or a range is stated once, in the contract, and the OpenAPI document says exactly what the
service accepts. What is here is only what the HTTP door adds: fields the gateway fills in itself are
left out of the request bodies, path ids carry the contract's bound, and a few bodies of the
gateway's own (sessions, integrations, health)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from services.common.contracts import incidents as contract
from services.common.contracts.base import MAX_ID, Contract, Id, Text, View

# A path id: a number beyond the databases' integer columns is a 422 here, never a 500 further on.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _without(model: type[BaseModel], *names: str, name: str, doc: str | None = None) -> type[BaseModel]:
    """`model` without the fields the gateway fills in (a staff member's name from its staff table).

    A client may send such a field back as it read it; it is dropped, never believed."""
    fields: dict[str, Any] = {k: (f.annotation, f) for k, f in model.model_fields.items() if k not in names}

    def drop_filled_in(cls, data):
        return {k: v for k, v in data.items() if k not in names} if isinstance(data, dict) else data

    # The contract's own checks come along (e.g. a pupil linked twice), so the door checks what the
    # service checks.
    validators: dict[str, Any] = {"drop_filled_in": model_validator(mode="before")(drop_filled_in)}
    decorators = model.__pydantic_decorators__
    for key, found in decorators.field_validators.items():
        func = getattr(found.func, "__func__", found.func)  # unbound from the contract model
        validators[key] = field_validator(*found.info.fields, mode=found.info.mode)(classmethod(func))
    for key, found in decorators.model_validators.items():
        validators[key] = model_validator(mode=found.info.mode)(found.func)
    return create_model(name, __base__=Contract, __doc__=doc or model.__doc__, __validators__=validators,
                        **fields)


# --- requests ----------------------------------------------------------------------------------------

IncidentRequest = _without(contract.IncidentIn, "dsl_informed_name", name="IncidentRequest")
ActionRequest = _without(contract.ActionIn, "assigned_to_name", name="ActionRequest")
CaseRequest = _without(contract.CaseIn, "owner_name", name="CaseRequest")
CaseOwnerRequest = _without(contract.OwnerIn, "owner_name", name="CaseOwnerRequest")
AmendmentRequest = contract.AmendmentIn
IncidentTextsRequest = contract.IncidentTexts
CompletionRequest = contract.CompletionIn
DecisionRequest = contract.DecisionIn
OutcomeRequest = contract.OutcomeIn
CaseStatusRequest = contract.StatusChange
CategoryRequest = contract.CategoryIn
CategoryChangesRequest = contract.CategoryChanges
HouseholdMemberRequest = contract.HouseholdMemberIn
AgencyRequest = contract.AgencyIn
TrayAlertRequest = contract.TrayAlertIn
AttachRequest = contract.AttachIn
DismissRequest = contract.DismissIn


class CaseIncidentRequest(Contract):
    incident_id: Id


class SiblingRequest(Contract):
    pupil_id: Id = Field(description="The sibling, another pupil on this school's roll")


class SignificantRequest(Contract):
    significant: bool


class Credentials(BaseModel):
    email: Text(254, min_length=3)
    password: Text(1000, min_length=1)


class SecondFactorRequest(BaseModel):
    code: Text(10, min_length=6)


class RecoveryCodeRequest(BaseModel):
    code: Text(20, min_length=10) = Field(description="One of the account's recovery codes, e.g. 'abcde-fghjk'")


class SecurityKeyAnswer(BaseModel):
    """What the browser's navigator.credentials.create() or .get() gave, as JSON (base64url fields)."""

    credential: dict[str, Any]


class NewSecurityKey(SecurityKeyAnswer):
    name: Text(100) = Field("Security key", description="What the member calls this key, e.g. 'Blue YubiKey'")


class IntegrationRequest(BaseModel):
    name: Text(1000) = Field("", description="The monitoring system's name, e.g. 'Smoothwall Monitor'")


# --- responses ---------------------------------------------------------------------------------------

IncidentView = contract.IncidentView
AmendedView = contract.AmendedView
TextWarnings = contract.TextWarnings
ActionView = contract.ActionView
DecisionView = contract.DecisionView
OutcomeView = contract.OutcomeView
CaseSummary = contract.CaseSummary
CaseView = contract.CaseView
PupilFound = contract.PupilFound
PupilView = contract.PupilView
ImportReport = contract.ImportReport
CategoryNode = contract.CategoryNode
ChronologyView = contract.ChronologyView
ChronologyEntryView = contract.ChronologyEntryView
FrontSheetView = contract.FrontSheetView
TrayReceipt = contract.TrayReceipt
TrayItemView = contract.TrayItemView
TrayAttached = contract.TrayAttached


class UserView(View):
    id: int
    name: str
    roles: list[str]


class SessionView(View):
    user: UserView
    csrf_token: str | None = None
    second_factor_required: bool
    enrolment_required: bool | None = Field(None, description="Must set up a second factor before anything else")
    step_up_until: float | None = Field(None, description="Safeguarding records readable until (epoch seconds)")


class TotpEnrolment(View):
    secret: str = Field(description="Base32, for typing into an authenticator app by hand")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code (an SVG document)")


class RecoveryCodes(View):
    recovery_codes: list[str] = Field(description="Shown this once; each works once")


class FactorDone(View):
    second_factor_required: bool
    recovery_codes: list[str] | None = Field(None, description="With a first factor only: shown this once")


class SecurityKeyView(View):
    id: int
    name: str
    created_at: str | None = None
    last_used_at: str | None = None


class FactorsView(View):
    totp: bool
    locked: bool
    recovery_codes_left: int
    keys: list[SecurityKeyView]


class StaffView(View):
    id: int
    name: str
    roles: list[str]
    job_title: str | None = None


class IntegrationView(View):
    id: int
    name: str
    key_prefix: str


class NewIntegration(IntegrationView):
    api_key: str = Field(description="Shown this once; keep it in the monitoring system's settings")


class HealthView(View):
    status: str = Field(description="ok or degraded")
    services: dict[str, str]
    failing: list[str] | None = None
