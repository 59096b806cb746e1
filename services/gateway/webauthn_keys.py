"""Security keys and passkeys (WebAuthn, with the `webauthn` library): registering one, and signing in or
stepping up with one.

The relying party is Haven at HAVEN_PUBLIC_URL: its host is the RP id and its origin the only origin
accepted. Each ceremony's challenge waits on the session row (`sessions.webauthn_challenge`, marked
`reg.` or `auth.` so one kind cannot answer the other) and is taken off it by the first answer, right
or wrong: a challenge is good once. The signature counter must go up, so a cloned key shows itself.
A key that fails counts as a wrong second-factor answer on the account (factors.py), like a wrong code.
"""
from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn import (generate_authentication_options, generate_registration_options, options_to_json,
                      verify_authentication_response, verify_registration_response)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)

from services.common.db import utcnow
from services.common.errors import Conflict

from . import factors
from .models import LoginSession, StaffMember, WebAuthnCredential

REGISTER, AUTHENTICATE = "reg.", "auth."
# What the library (or our reading of the answer) raises for an answer that does not hold together; any of
# them is a refusal, never a 500.
UNREADABLE = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError, IndexError)
MAX_KEYS = 10


class KeyRefused(Exception):
    """The browser's answer did not verify (or there was no ceremony waiting for it)."""


def relying_party(public_url: str) -> tuple[str, str]:
    """(RP id, origin) from the public URL: `https://haven.school.example:8443/` →
    (`haven.school.example`, `https://haven.school.example:8443`)."""
    parts = urlsplit(public_url)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def keys_of(session: Session, user: StaffMember) -> list[WebAuthnCredential]:
    return list(session.scalars(select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id)
                                .order_by(WebAuthnCredential.id)))


def _descriptors(keys: list[WebAuthnCredential]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in keys]


def _take_challenge(login: LoginSession, kind: str) -> bytes:
    """The waiting challenge of this kind, removed from the session (single use)."""
    waiting, login.webauthn_challenge = login.webauthn_challenge, None
    if not waiting or not waiting.startswith(kind):
        raise KeyRefused("No security-key request is waiting. Start again.")
    return base64url_to_bytes(waiting[len(kind):])


# --- registration --------------------------------------------------------------------------------------

def registration_options(session: Session, login: LoginSession, user: StaffMember, public_url: str,
                         rp_name: str = "Haven") -> dict:
    keys = keys_of(session, user)
    if len(keys) >= MAX_KEYS:
        raise Conflict(f"An account can hold {MAX_KEYS} security keys. Remove one first.")
    rp_id, _origin = relying_party(public_url)
    options = generate_registration_options(
        rp_id=rp_id, rp_name=rp_name, user_id=f"haven-user-{user.id}".encode(), user_name=user.email,
        user_display_name=user.name, exclude_credentials=_descriptors(keys),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED))
    login.webauthn_challenge = REGISTER + bytes_to_base64url(options.challenge)
    return json.loads(options_to_json(options))


def register(session: Session, login: LoginSession, user: StaffMember, public_url: str, credential: dict,
             name: str, now: datetime | None = None) -> WebAuthnCredential:
    """Keep the new key if the browser's answer verifies against the waiting challenge."""
    challenge = _take_challenge(login, REGISTER)
    rp_id, origin = relying_party(public_url)
    try:
        verified = verify_registration_response(credential=credential, expected_challenge=challenge,
                                                expected_rp_id=rp_id, expected_origin=origin)
    except UNREADABLE as exc:
        raise KeyRefused("The security key's answer could not be checked. Try again.") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.scalar(select(WebAuthnCredential.id).where(WebAuthnCredential.credential_id == credential_id)):
        raise KeyRefused("That security key is already registered.")
    answer = credential.get("response") if isinstance(credential, dict) else None
    transports = answer.get("transports") if isinstance(answer, dict) else None
    transports = transports if isinstance(transports, list) else []
    key = WebAuthnCredential(user_id=user.id, credential_id=credential_id, public_key=verified.credential_public_key,
                             sign_count=verified.sign_count, name=name[:100] or "Security key",
                             transports=[t[:20] for t in transports if isinstance(t, str)][:8],
                             created_at=now or utcnow())
    session.add(key)
    session.flush()
    return key


def remove(session: Session, user: StaffMember, key_id: int) -> bool:
    key = session.get(WebAuthnCredential, key_id)
    if key is None or key.user_id != user.id:
        return False
    session.delete(key)
    session.flush()
    return True


# --- signing in / stepping up ---------------------------------------------------------------------------

def authentication_options(session: Session, login: LoginSession, user: StaffMember, public_url: str) -> dict:
    keys = keys_of(session, user)
    if not keys:
        raise Conflict("No security key is registered to this account.")
    rp_id, _origin = relying_party(public_url)
    options = generate_authentication_options(rp_id=rp_id, allow_credentials=_descriptors(keys),
                                              user_verification=UserVerificationRequirement.PREFERRED)
    login.webauthn_challenge = AUTHENTICATE + bytes_to_base64url(options.challenge)
    return json.loads(options_to_json(options))


def authenticate(session: Session, login: LoginSession, user: StaffMember, public_url: str, credential: dict,
                 now: datetime | None = None) -> factors.Verdict:
    """The second factor given with a key: checked like a code (the account's delay and lock apply, a
    failure is counted)."""
    now = now or utcnow()
    held = factors.waiting(user, now)
    if held is not None:
        return held
    try:
        challenge = _take_challenge(login, AUTHENTICATE)
        raw_id = credential.get("rawId") if isinstance(credential, dict) else None
        key = session.scalar(select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id,
                                                              WebAuthnCredential.credential_id == raw_id)
                             .with_for_update()) if isinstance(raw_id, str) and len(raw_id) <= 1400 else None
        if key is None:
            raise KeyRefused("That security key is not registered to this account.")
        rp_id, origin = relying_party(public_url)
        try:
            verified = verify_authentication_response(
                credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
                credential_public_key=key.public_key, credential_current_sign_count=key.sign_count)
        except UNREADABLE as exc:
            raise KeyRefused("The security key's answer could not be checked.") from exc
    except KeyRefused:
        return factors.failed(login, user, now)
    key.sign_count, key.last_used_at = verified.new_sign_count, now
    return factors.succeeded(login, user, now)
