"""Import first in a Nameko service's `__main__`: makes the process green before anything else loads.

Eventlet warns on import that it is deprecated; DESIGN rule 1 is our answer to that, so the warning
is not repeated in every service's log.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()
