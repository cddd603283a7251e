"""Artifacts: the run folders of the workspace, their files, and zip bundles to download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from modeldev.errors import ModeldevError
from modeldev.ui import bundles, common, routing
from modeldev.ui import state as S

routing.ensure_router()

settings = common.settings()
st.title("Artifacts")
st.caption("Artifacts folder")
st.text(str(settings.artifacts_dir))
found = bundles.folders(settings)
if not found:
    common.pointer(S.PAGE_TRAINING, "No artifacts yet: train first.", "Go to Training")
    st.stop()

st.dataframe(pd.DataFrame([{"kind": f["kind"], "folder": f["name"]} for f in found]),
             hide_index=True, key="art_folders_table")
by_name = {f["name"]: f for f in found}
name = st.selectbox("Folder", list(by_name), key=S.ART_FOLDER,
                    format_func=lambda n: f"{by_name[n]['kind']} · {n}")
folder = by_name[name]
st.dataframe(bundles.files_table(folder["path"]), hide_index=True, key="art_files_table")


label = "Phase 1" if folder["kind"] == "training" else "tuning"
bundles.offer(S.ART_BUNDLE, f"the {label} bundle", [("", folder["path"])],
              f"{folder['kind']}_{name}.zip", settings)

if folder["kind"] == "training":
    tracker = common.tracker()
    try:
        roots = bundles.session_roots(folder["path"], settings, tracker) if tracker else []
    except ModeldevError as exc:
        common.error(exc)
        roots = []
    if roots:
        st.caption(f"Everything of this session: {len(roots)} folders (its files, "
                   "the logged models, its tuning runs and tuned models).")
        bundles.offer(S.ART_BUNDLE_SESSION, "everything of this session", roots,
                      f"session_{name}.zip", settings)
