import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

from services.common.runner import run  # noqa: E402

from .service import DocumentsService  # noqa: E402
from .settings import DocumentsSettings  # noqa: E402

if __name__ == "__main__":
    settings = DocumentsSettings()
    run(DocumentsService, settings, settings.documents_database_url,
        os.path.join(os.path.dirname(__file__), "migrations"), extra_config=settings.nameko_config())
