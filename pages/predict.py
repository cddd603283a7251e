"""Predict: score new rows with a registered model (the champion by default): an upload or a
file under the data roots, the first rows scored at once, the whole file on request, in
chunks, into a file to download."""

from __future__ import annotations

import streamlit as st

from modeldev.errors import ModeldevError
from modeldev.serving import predict
from modeldev.ui import common, data_source, routing
from modeldev.ui import predict as P
from modeldev.ui import state as S

routing.ensure_router()

settings = common.settings()
st.title("Predict")
if common.tracking_broken():
    st.stop()
uri = P.model_choice(settings) if common.tracker() is not None else None
if uri is None:
    common.pointer(S.PAGE_TUNING, "No registered model yet: a tuning registers the model it "
                   "carries forward, and the Tuning page registers a past run.", "Go to Tuning")
    st.stop()
model = P.loaded_model(uri, settings)
if model is None:
    st.stop()
P.describe(model)

path = P.file_choice(settings)
if path is None:
    st.stop()
try:
    table = P.table_of(path, settings)
    proba = bool(model.task in ("binary", "multiclass") and st.checkbox(
        "Add class probabilities", key=S.PREDICT_PROBA))
    head = predict.preview(model, table, P.PREVIEW_ROWS, proba, settings.limits)
except (ModeldevError, OSError) as exc:
    common.error(exc)
    st.stop()
st.caption(f"{table.rows:,} rows in {table.path.name}; the first {len(head)} scored "
           f"(labels at the model's own decision threshold):")
st.dataframe(data_source.preview(head), hide_index=True, key="predict_preview")

if st.button("Score the whole file", key=S.PREDICT_RUN, type="primary",
             icon=":material/play_arrow:"):
    try:
        P.score_all(model, table, proba, settings)
    except ModeldevError as exc:
        common.error(exc)
done = st.session_state.get(S.PREDICT_DONE)
if done and done["source"] == str(table.path) and done["model"] == model.uri:
    st.success(common.plain(f"Scored {done['rows']:,} rows in {done['seconds']:.1f} s."),
               icon=":material/check:")
    if done["ignored_columns"]:
        st.caption("Ignored (the model does not take them): " + ", ".join(done["ignored_columns"]))
    st.link_button("Download the predictions (.csv)", done["url"], icon=":material/download:")
