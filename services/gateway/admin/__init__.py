"""Setting up a school and administering it: schools, staff accounts, set-password links, groups and
the staff import from the MIS.

`schools`, `links`, `staff`, `groups` and `staff_csv` are plain Python over a SQLAlchemy session (the
rules, each with its tests); `usecases` is what the administrator's two front doors (routes/admin.py and
web/admin_pages.py) call: it checks the ids, writes the audit log and sends the mail after the commit.
The administrator role by itself reads no record: nothing here asks a service for a pupil or an incident.
"""
