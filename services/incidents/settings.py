from services.common.settings import CommonSettings


class IncidentsSettings(CommonSettings):
    incidents_database_url: str = "sqlite:///var/incidents.sqlite3"
