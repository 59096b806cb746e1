from services.common.migrations_env import run
from services.alerts.models import Base

run(Base.metadata)
