from services.common.settings import CommonSettings


class TransfersSettings(CommonSettings):
    transfers_database_url: str = "sqlite:///var/transfers.sqlite3"

    @property
    def database_url(self) -> str:
        return self.transfers_database_url
