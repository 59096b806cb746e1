"""Set up a real school on this Haven: the school and its first administrator.

    python -m services.gateway.bootstrap --school-name "Oak Hill Primary" --urn 123456 \\
        --local-authority "Camden" --admin-name "Jo Bloggs" --admin-email jo.bloggs@oakhill.sch.uk

creates the school (its `school_saved` event goes through the gateway's outbox, so the incidents service
makes its own row once the gateway runs), and the first administrator — also the DSL unless
`--admin-only` — who is e-mailed a single-use set-password link valid for 72 hours. The link is
printed only with `--print-link` (a machine with no mail relay yet): it is a password, treat it so.
`--resend-link --admin-email …` sends a new link to an existing account (earlier links stop working).
A URN already on this Haven is refused and nothing is created.
"""
from __future__ import annotations

import argparse
import os
import sys

from sqlalchemy import select

from services.common.db import make_engine, migrate, session_factory, transaction
from services.common.errors import HavenError, ValidationFailed

from . import accounts, mailer
from .admin import links, schools, staff
from .models import StaffMember
from .settings import GatewaySettings

MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")


OPTION = {"name": "school_name"}  # a school's field errors, as the command's options


def arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.gateway.bootstrap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--school-name")
    parser.add_argument("--urn", help="the school's 6 or 7 digit Unique Reference Number")
    parser.add_argument("--local-authority")
    parser.add_argument("--trust", help="the multi-academy trust, if any")
    parser.add_argument("--admin-name")
    parser.add_argument("--admin-email", required=True)
    parser.add_argument("--admin-only", action="store_true",
                        help="the first administrator is not also the DSL (give the DSL role to someone later)")
    parser.add_argument("--print-link", action="store_true",
                        help="print the set-password link instead of e-mailing it (no mail relay yet)")
    parser.add_argument("--resend-link", action="store_true",
                        help="send a new set-password link to an existing account, and nothing else")
    args = parser.parse_args(argv)
    if not args.resend_link:
        missing = [f"--{n.replace('_', '-')}" for n in ("school_name", "urn", "local_authority", "admin_name")
                   if not getattr(args, n)]
        if missing:
            parser.error("these are needed to set up a school: " + ", ".join(missing))
    return args


def create(session, args) -> tuple[dict, str]:
    """The school, its administrator and a link, in one transaction: (what was made, the link's token)."""
    roles = ["admin"] if args.admin_only else ["dsl", "admin"]
    errors = (schools.school_problems(args.school_name, args.urn, args.local_authority)
              + [{**e, "field": "admin_" + e["field"]} for e in
                 staff.check_details(args.admin_name, args.admin_email, None, roles, roles)])
    if errors:
        raise ValidationFailed([{**e, "field": OPTION.get(e["field"], e["field"])} for e in errors])
    school = schools.create_school(session, name=args.school_name, urn=args.urn,
                                   local_authority=args.local_authority, trust=args.trust)
    user = accounts.save_staff_member(session, school_id=school.id, name=args.admin_name.strip(),
                                      email=args.admin_email.strip(), roles=roles, job_title=None)
    token = links.new_link(session, user, created_by=None)
    accounts.audit(session, action="bootstrap_school", outcome="ok", school_id=school.id, object_type="school",
                   object_id=school.id, detail=f"first administrator {user.id}, roles={','.join(roles)}")
    return {"school_id": school.id, "school": school.name, "urn": school.urn, "user_id": user.id,
            "name": user.name, "email": user.email, "roles": roles}, token


def resend(session, args) -> tuple[dict, str]:
    user = session.scalar(select(StaffMember).where(StaffMember.email == args.admin_email.strip().lower()))
    if user is None or not user.active:
        raise HavenError("No active account has that e-mail address.")
    token = links.new_link(session, user, created_by=None)
    accounts.audit(session, action="send_password_link", outcome="ok", school_id=user.school_id,
                   object_type="staff", object_id=user.id, detail="from the bootstrap command")
    return {"school_id": user.school_id, "school": schools.school_name(session, user.school_id), "user_id": user.id,
            "name": user.name, "email": user.email, "roles": list(user.roles)}, token


def main(argv=None) -> int:
    args = arguments(argv)
    settings = GatewaySettings()
    migrate(settings.gateway_database_url, MIGRATIONS)
    engine = make_engine(settings.gateway_database_url)
    try:
        with transaction(session_factory(engine)) as session:
            made, token = (resend if args.resend_link else create)(session, args)
    except ValidationFailed as exc:
        print("Nothing was changed:\n" + "\n".join(f"  --{e['field'].replace('_', '-')}: {e['message']}"
                                                      for e in exc.errors), file=sys.stderr)
        return 1
    except HavenError as exc:
        print(f"Nothing was changed: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if not args.resend_link:
        print(f"Created school {made['school_id']}: {made['school']} (URN {made['urn']}).")
        print(f"Created the first administrator {made['name']} <{made['email']}> with roles "
              f"{', '.join(made['roles'])}.")
    link = settings.public_url.rstrip("/") + "/set-password/" + token
    if args.print_link:
        print(f"Set-password link (single use, {links.LINK_HOURS} hours; give it to {made['name']} only):")
        print(link)
        return 0
    message = mailer.set_password_message(settings, to=made["email"], name=made["name"], school=made["school"],
                                          link=link, hours=links.LINK_HOURS, first=not args.resend_link)
    try:
        mailer.send(settings, message)
    except Exception as exc:  # noqa: BLE001 - any failure of the relay: say so, the account is made
        print(f"The e-mail could not be sent ({type(exc).__name__}). Check the HAVEN_SMTP_* settings, then run "
              f"again with --resend-link --admin-email {made['email']} (or add --print-link).", file=sys.stderr)
        return 3
    print(f"E-mailed a set-password link to {made['email']} (single use, {links.LINK_HOURS} hours).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
