from pydantic import SecretStr

from services.common.settings import CommonSettings


class TransfersSettings(CommonSettings):
    OWNER = "transfers"
    transfers_signing_key: SecretStr = SecretStr("")  # HAVEN_TRANSFERS_SIGNING_KEY, this process only
    transfers_database_url: str = "sqlite:///var/transfers.sqlite3"

    @property
    def database_url(self) -> str:
        return self.transfers_database_url
