"""The desk's pages, one router module each. A module has `router` (an `APIRouter` whose
routes depend on `web.auth.require_role`) and `NAV` (its `NavLink`s, for the navigation bar);
adding a page is adding its module to `PAGE_MODULES`."""

from __future__ import annotations

from types import ModuleType

from web.pages import case, queue, supervisor, visits

# In the order the navigation bar shows them.
PAGE_MODULES: tuple[ModuleType, ...] = (queue, case, visits, supervisor)
