import services.common.green  # noqa: F401  (must come first)

import os  # noqa: E402

from services.common.runner import run  # noqa: E402

from .service import TransfersService  # noqa: E402
from .settings import TransfersSettings  # noqa: E402

if __name__ == "__main__":
    settings = TransfersSettings()
    run(TransfersService, settings, settings.transfers_database_url,
        os.path.join(os.path.dirname(__file__), "migrations"))
