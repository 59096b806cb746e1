import services.common.green  # noqa: F401  (must come first)

import os  # noqa: E402

from services.common.runner import run  # noqa: E402

from .service import IncidentsService  # noqa: E402
from .settings import IncidentsSettings  # noqa: E402

if __name__ == "__main__":
    settings = IncidentsSettings()
    run(IncidentsService, settings, settings.incidents_database_url,
        os.path.join(os.path.dirname(__file__), "migrations"))
