"""Keep every page behind the router in app.py, even when Streamlit runs a pages/ file directly.

Streamlit treats a `pages/` folder next to the main script as an old-style multipage app until
some session calls `st.navigation`: right after a server (re)start, a browser reloading
/comparison gets pages/comparison.py run on its own, and AppTest does this on every page
switch. Without the router that page would have no page config, sidebar or owner id. So a page
checks that the router is running it; if not, it runs app.py (which routes back to the same
page through `st.navigation`, switching Streamlit to the explicit page list) and stops.
"""

from __future__ import annotations

import contextlib
import runpy
import threading
from collections.abc import Iterator

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

_state = threading.local()


@contextlib.contextmanager
def routed() -> Iterator[None]:
    """Mark the page run inside this block as started by the router."""
    _state.on = True
    try:
        yield
    finally:
        _state.on = False


def ensure_router() -> None:
    """Call first in every page: when the router is not running this page, run it and stop."""
    if getattr(_state, "on", False):
        return
    ctx = get_script_run_ctx()
    main = getattr(ctx, "main_script_path", None)
    if not main:
        return  # bare mode (no Streamlit runtime): nothing to route through
    runpy.run_path(main, run_name="__main__")
    st.stop()
