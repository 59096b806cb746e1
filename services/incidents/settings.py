from services.common.settings import CommonSettings


class IncidentsSettings(CommonSettings):
    incidents_database_url: str = "sqlite:///var/incidents.sqlite3"

    @property
    def database_url(self) -> str:
        return self.incidents_database_url
