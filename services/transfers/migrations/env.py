from services.common.migrations_env import run
from services.transfers.models import Base

run(Base.metadata)
