"""The Predict page's parts: the model (each registered model's champion first), the file (an
upload, or a file under the data roots), the first rows scored, and the whole file scored in
chunks into a file the app serves from disk (`ui.bundles`: never held whole in memory)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import streamlit as st

from modeldev.artifacts import safe_name
from modeldev.config import MAX_SERVED_MB, Settings
from modeldev.context import OUTPUTS_KEY, read_context
from modeldev.data.paths import confine
from modeldev.errors import InputError, ModeldevError
from modeldev.serving import predict
from modeldev.serving.reading import Table, open_table
from modeldev.tracking import tags as T
from modeldev.tracking.loaded import LoadedModel
from modeldev.ui import bundles, common, data_source, registry
from modeldev.ui import state as S

PREVIEW_ROWS = 20
SOURCES = {"upload": "Upload a file", "path": "File on the server"}


def model_choice(settings: Settings) -> str | None:
    """The model URI picked (the pipeline context's champion by default); None when nothing
    is registered."""
    choices = registry.champion_choices(registry.versions())
    if not choices:
        return None
    outputs = read_context(settings.context_path).get(OUTPUTS_KEY) or {} \
        if Path(settings.context_path).is_file() else {}
    default = outputs.get("model_uri") if outputs.get("model_uri") in choices else \
        next(iter(choices))
    if st.session_state.get(S.PREDICT_MODEL) not in choices:
        st.session_state[S.PREDICT_MODEL] = default
    return st.selectbox("Model", list(choices), key=S.PREDICT_MODEL,
                        format_func=lambda u: choices.get(u, u))


@st.cache_data(show_spinner="Checking the model's signature ...", max_entries=32)
def _problem(uri: str, workspace: str, model_id: str) -> str | None:
    return common.cached_tracker(uri, workspace).model_problem(model_id)


@st.cache_resource(show_spinner="Loading the model ...", max_entries=4)
def _load(uri: str, workspace: str, model_id: str) -> LoadedModel:
    """The model, loaded through the Tracker (which refuses an unsigned one unless the server
    is trusted; the page asks the analyst first)."""
    return common.cached_tracker(uri, workspace).load_for_scoring(f"models:/{model_id}")


def loaded_model(uri: str, settings: Settings) -> LoadedModel | None:
    """The model `uri` names, loaded once its signature checks (on a trusted server, an
    unsigned one once the analyst has asked); None after showing why not."""
    ws = str(settings.workspace)
    try:
        resolved = common.cached_tracker(settings.tracking_uri, ws).resolve_model(uri)
        if resolved.model_id is None:
            raise InputError(f"{uri} names a version modeldev cannot trace to a logged model.")
        why = _problem(settings.tracking_uri, ws, resolved.model_id)
        trusted = settings.access.trust_tracking_server
        if why is not None and not (trusted and _asked(resolved.model_id, why)):
            if not trusted:
                common.error(f"The model {uri} is not loaded: {why}, and loading it would run "
                             "its code.")
            return None
        model = _load(settings.tracking_uri, ws, resolved.model_id)
    except ModeldevError as exc:
        common.error(exc)
        return None
    return dataclasses.replace(model, uri=uri, version=resolved.version)


def _asked(model_id: str, why: str) -> bool:
    st.warning(common.plain(f"This model was not signed by this installation: {why}. Loading "
                            "it runs its code as this app's user; this tracking server is "
                            "trusted (MODELDEV_TRUST_TRACKING_SERVER=1), so you may."),
               icon=":material/warning:")
    accepted = st.session_state.setdefault(S.TRUSTED_MODELS, set())
    if model_id not in accepted and st.button("Load this model", key=S.PREDICT_TRUST + model_id):
        accepted.add(model_id)
    return model_id in accepted


def describe(model: LoadedModel) -> None:
    """What the chosen version carries: its decision, the test figure, its threshold."""
    tags = model.version.tags if model.version else {}
    metric = tags.get(T.VERSION_METRIC, "")
    figure = registry.number(tags.get(T.VERSION_TEST_VALUE))
    parts = [f"{tags.get(T.VERSION_FRAMEWORK) or getattr(model.fitted, 'framework', '?')}",
             f"verdict {tags.get(T.VERSION_VERDICT, '-')}",
             f"test {metric} {figure:.4f}" if figure is not None else "",
             f"decision threshold {model.threshold}" if model.threshold is not None else "",
             f"{len(model.inputs)} input columns"]
    st.caption(" · ".join(p for p in parts if p))


def file_choice(settings: Settings) -> Path | None:
    """The file to score: an upload kept in the workspace, or a path under the data roots."""
    kinds = [k for k in SOURCES if k != "path" or settings.access.server_files]
    kind = st.radio("New data", kinds, format_func=SOURCES.get, key=S.PREDICT_SOURCE,
                    horizontal=True)
    try:
        if kind == "upload":
            up = st.file_uploader("CSV or Parquet file", type=data_source.UPLOAD_TYPES,
                                  key=S.PREDICT_UPLOAD)
            return Path(data_source.save_upload(up, settings, S.PREDICT_SAVED)) if up else None
        text = st.text_input("Path on the server", key=S.PREDICT_PATH,
                             help="a CSV or Parquet file under the data roots")
        return confine(text, settings.access.data_roots) if text.strip() else None
    except ModeldevError as exc:
        common.error(exc)
        return None


@st.cache_resource(show_spinner="Reading the file's header ...", max_entries=8)
def _table(path: str, stamp: tuple[float, int], limits: Any) -> Table:
    return open_table(path, limits)


def table_of(path: Path, settings: Settings) -> Table:
    """The file, checked and counted (cached per file version)."""
    info = path.stat()
    return _table(str(path), (info.st_mtime, info.st_size), settings.limits)


def score_all(model: LoadedModel, table: Table, proba: bool, settings: Settings) -> None:
    """Score the whole file in chunks with a progress bar into a served file; keep its link."""
    name = f"{safe_name(table.path.stem, 80)}_predictions.csv"
    out, url = bundles.download_slot(name, settings)
    bar = st.progress(0.0, text="Scoring ...")
    request = predict.PredictRequest(model=model.uri, data=table.path, out=out, proba=proba)

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / total), text=f"{done:,} of {total:,} rows")

    result = predict.score_table(model, table, out, request, settings.limits, progress)
    size = out.stat().st_size
    if size > MAX_SERVED_MB * 2**20:
        out.unlink()
        raise InputError(f"The predictions take {size / 2**20:,.0f} MiB, more than this app "
                         f"serves ({MAX_SERVED_MB} MiB): score this file with modeldev predict.")
    st.session_state[S.PREDICT_DONE] = {"source": str(table.path), "model": model.uri,
                                        "url": url, **result.summary()}
