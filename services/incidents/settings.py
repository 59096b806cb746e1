from pydantic import SecretStr

from services.common.settings import CommonSettings


class IncidentsSettings(CommonSettings):
    OWNER = "incidents"
    incidents_signing_key: SecretStr = SecretStr("")  # HAVEN_INCIDENTS_SIGNING_KEY, this process only
    incidents_database_url: str = "sqlite:///var/incidents.sqlite3"

    @property
    def database_url(self) -> str:
        return self.incidents_database_url
