"""The transfers service's tables. Leavers, packages and receipts arrive with the transfers issue."""
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
