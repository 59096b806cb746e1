import services.common.green  # noqa: F401  (must come first)

from services.common.runner import run  # noqa: E402

from .service import AlertsService  # noqa: E402
from .settings import AlertsSettings  # noqa: E402

if __name__ == "__main__":
    run(AlertsService, AlertsSettings())
