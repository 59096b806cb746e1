from services.common.migrations_env import run
from services.incidents.models import Base

run(Base.metadata)
