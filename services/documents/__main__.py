import services.common.green  # noqa: F401  (must come first)

from services.common.runner import run  # noqa: E402

from .service import DocumentsService  # noqa: E402
from .settings import DocumentsSettings  # noqa: E402

if __name__ == "__main__":
    run(DocumentsService, DocumentsSettings())
