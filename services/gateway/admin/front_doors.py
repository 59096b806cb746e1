"""The administrator's routers, for app.py: the JSON API, the set-password call and the pages."""
from ..routes import admin as api
from ..web import admin_pages

routers = (api.router, api.account_router, admin_pages.router)
