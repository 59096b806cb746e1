"""Chronology entries: marking a line as a significant event (the DSL team). A pupil's chronology
itself is read under /pupils (routes/pupils.py)."""
from __future__ import annotations



from . import api_router
from ..deps import Ctx, DslUser, audits
from ..schemas import ChronologyEntryView, PathId, SignificantRequest
from ..usecases import pupils

router = api_router("/api/v1/chronology", "chronology")


@router.put("/{entry_id}/significant", response_model=ChronologyEntryView,
            summary="Mark or unmark a chronology line as a significant event (DSL team)")
@audits(pupils.FLAG_CHRONOLOGY_ENTRY, "entry_id")
async def set_significant(entry_id: PathId, body: SignificantRequest, user: DslUser, ctx: Ctx):
    return await pupils.set_significant(ctx, user, entry_id, body.significant)
