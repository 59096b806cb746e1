"""The incidents service's Nameko adapter: contract → use case, nothing else."""
from __future__ import annotations

from services.common.adapter import Service, UnitOfWork, health
from services.common.contracts import incidents

from . import consumers, hooks
from .chronology import entries as chronology, front_sheet
from .dashboard import day as dashboard
from .follow_up import actions, cases, decisions, summaries
from .models import OutboxEvent, SpentToken
from .record import access, amendments, categories, incidents as record
from .roll import importer, pupils, search
from .tray import items as tray



class IncidentsService(Service):
    name = "incidents"

    # The search index and the chronology listen to this process's sessions, registered here.
    unit_of_work = UnitOfWork(OutboxEvent, session_hooks=(hooks.register,), spent_model=SpentToken)

    methods = {
        incidents.health: health,
        # the record
        incidents.record_incident: record.record,
        incidents.get_incident: record.get_incident,
        incidents.amend_incident: amendments.amend,
        incidents.check_incident_text: record.check_incident_text,
        incidents.body_map_svg: record.body_map_svg,
        incidents.body_map_outline: record.body_map_outline,
        incidents.check_incident_access: record.check_incident_access,
        incidents.restrict_incident: access.restrict_incident,
        incidents.set_excluded_staff: access.set_excluded_staff,
        incidents.list_categories: record.list_categories,
        incidents.list_category_tree: categories.list_categories,
        incidents.create_category: categories.add_category,
        incidents.update_category: categories.change_category,
        # the roll
        incidents.search_pupils: search.search_pupils,
        incidents.import_roll: importer.import_upload,
        incidents.get_pupil: pupils.get_pupil,
        incidents.list_siblings: pupils.list_siblings,
        incidents.link_siblings: pupils.link_siblings,
        incidents.unlink_siblings: pupils.unlink_siblings,
        incidents.set_staff_relatives: pupils.set_staff_relatives,
        # follow-up
        incidents.add_action: actions.add_action,
        incidents.complete_action: actions.complete_action,
        incidents.list_my_actions: actions.list_my_actions,
        incidents.list_school_actions: actions.list_school_actions,
        incidents.list_incident_actions: actions.list_incident_actions,
        incidents.record_decision: decisions.record_decision,
        incidents.list_decisions: decisions.list_decisions,
        incidents.record_outcome: decisions.record_outcome,
        incidents.list_outcomes: decisions.list_outcomes,
        incidents.open_case: cases.open_case,
        incidents.add_incident_to_case: cases.add_incident,
        incidents.change_case_owner: cases.change_owner,
        incidents.set_case_status: cases.set_status,
        incidents.list_cases: cases.list_cases,
        incidents.get_case: cases.get_case,
        # the chronology and the front sheet
        incidents.get_chronology: chronology.get_chronology,
        incidents.get_chronology_gzip: chronology.get_chronology_gzip,
        incidents.set_significant: chronology.set_significant,
        incidents.set_incident_summary: summaries.set_incident_summary,
        incidents.get_front_sheet: front_sheet.front_sheet,
        incidents.add_household_member: front_sheet.add_household_member,
        incidents.add_agency_involvement: front_sheet.add_agency_involvement,
        # the DSL's dashboard
        incidents.get_dashboard: dashboard.get_dashboard,
        # the tray
        incidents.receive_tray_alert: tray.receive_tray_alert,
        incidents.list_tray: tray.list_tray,
        incidents.attach_tray_item: tray.attach,
        incidents.dismiss_tray_item: tray.dismiss,
    }
    handlers = {
        incidents.on_document_stored: consumers.document_stored,
        incidents.on_school_saved: consumers.school_saved,
    }
