import services.common.green  # noqa: F401  (must come first)

from services.common.runner import run  # noqa: E402

from .service import TransfersService  # noqa: E402
from .settings import TransfersSettings  # noqa: E402

if __name__ == "__main__":
    run(TransfersService, TransfersSettings())
