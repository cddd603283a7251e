"""A tracking server is not trusted by default (docs/team.md, "What a server writer can do").

Every attack is made for real, with real MLflow stores (temporary SQLite; one real `mlflow
server` on loopback): a model logged by someone else whose pickle runs code when loaded, a
model of ours whose files were swapped, a signature copied onto another model, a model signed
by another installation, an `artifacts_dir` tag naming a folder outside the workspace, run ids
that would name paths. The payload writes a marker file when unpickled: it must not exist
unless the server is trusted.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import mlflow
import pytest
import server_support
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from streamlit.testing.v1 import AppTest

from modeldev.config import Settings, resolve_settings
from modeldev.data.loading import load_demo
from modeldev.errors import InputError, UntrustedModel
from modeldev.locks import resume_lock
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.tracking import folders, trust
from modeldev.tracking import tags as T
from modeldev.tracking.records import RunRecord
from modeldev.tracking.tracker import Tracker
from modeldev.ui import state as S

APP = str(Path(__file__).resolve().parents[1] / "app.py")


class _Payload(mlflow.pyfunc.PythonModel):
    """Unpickling this runs code: it writes `marker` (a stand-in for anything worse)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def predict(self, context, model_input, params=None):
        return model_input

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _trusting(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, access=dataclasses.replace(settings.access, trust_tracking_server=True))


def _forged_model(tracking_uri: str, experiment_id: str, marker: Path, tmp: Path) -> str:
    """What a writer to the server can do with MLflow alone: a run tagged as a Phase 1
    framework run, whose LoggedModel is a pyfunc that runs code when loaded."""
    client = MlflowClient(tracking_uri)
    run = client.create_run(experiment_id, tags={T.KIND: T.KIND_PHASE1_MODEL})
    logged = client.create_logged_model(experiment_id, name="model",
                                        source_run_id=run.info.run_id)
    folder = tmp / f"forged-{logged.model_id}"
    mlflow.pyfunc.save_model(str(folder), python_model=_Payload(marker),
                             pip_requirements=["cloudpickle"])  # no inference: it would load it
    client.log_model_artifacts(logged.model_id, str(folder))
    client.log_outputs(run.info.run_id, [LoggedModelOutput(logged.model_id, step=0)])
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    client.set_terminated(run.info.run_id)
    return logged.model_id


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> tuple[Settings, object]:
    """A real Phase 1 session (one fast framework) in its own workspace."""
    settings = resolve_settings(tmp_path_factory.mktemp("trust_ws"))
    result = run_phase1(TrainRequest(source=load_demo("breast_cancer"), cv=0,
                                     frameworks=["sklearn_logistic_regression"]), settings)
    return settings, result


def test_a_model_we_logged_is_signed_on_its_run_and_loads(session):
    settings, result = session
    tracker = Tracker(settings)
    run = tracker.get_run(result.best.run_id)
    model_id = run.model_ids[0]
    assert run.tags[trust.signature_tag(model_id)].startswith("v1:")
    assert tracker.model_problem(model_id) is None
    assert tracker.load_fitted(model_id).framework == "sklearn_logistic_regression"
    assert Path(settings.access.model_key).stat().st_mode & 0o777 == 0o600


def test_a_model_someone_else_logged_never_runs_unless_the_server_is_trusted(session,
                                                                             tmp_path):
    settings, result = session
    tracker = Tracker(settings)
    marker = tmp_path / "ran"
    model_id = _forged_model(settings.tracking_uri, tracker.get_run(result.parent_run_id)
                             .experiment_id, marker, tmp_path)
    assert tracker.model_problem(model_id) == "it carries no signature of this installation"
    with pytest.raises(UntrustedModel) as err:
        tracker.load_fitted(model_id)
    assert str(err.value) == (
        f"Model {model_id} is not loaded: it carries no signature of this installation, and "
        "loading it would run its code; set MODELDEV_TRUST_TRACKING_SERVER=1 to load models "
        "this installation did not sign.")
    assert not marker.exists()
    with pytest.raises(Exception):  # noqa: B017 - the payload is no model: only its effect counts
        Tracker(_trusting(settings)).load_fitted(model_id)
    assert marker.read_text() == "ran"  # the attack is real: trusting the server ran it


def test_swapped_files_and_copied_signatures_are_refused(session, tmp_path):
    settings, result = session
    tracker = Tracker(settings)
    ours = tracker.get_run(result.best.run_id).model_ids[0]
    marker = tmp_path / "ran"
    forged = _forged_model(settings.tracking_uri, tracker.get_run(result.parent_run_id)
                           .experiment_id, marker, tmp_path)
    # a copied signature: the run of the forged model gets our model's signature
    forged_run = MlflowClient(settings.tracking_uri).get_logged_model(forged).source_run_id
    signed = tracker.get_run(result.best.run_id).tags[trust.signature_tag(ours)]
    tracker.set_tags(forged_run, {trust.signature_tag(forged): signed})
    assert "signature does not match" in tracker.model_problem(forged)
    # swapped files: our model's pickle replaced by the payload, its signature left as it was
    location = Path(tracker.model_location(ours).removeprefix("file://"))
    pickled = next(location.rglob("python_model.pkl"))
    forged_pickle = next((tmp_path / f"forged-{forged}").rglob("python_model.pkl"))
    original = pickled.read_bytes()
    shutil.copyfile(forged_pickle, pickled)
    try:
        assert "signature does not match" in tracker.model_problem(ours)
        with pytest.raises(UntrustedModel):
            tracker.load_fitted(ours)
    finally:
        pickled.write_bytes(original)
    assert not marker.exists()
    assert tracker.model_problem(ours) is None


def test_another_installation_is_refused_and_a_shared_key_is_one_installation(session,
                                                                              tmp_path):
    settings, result = session
    model_id = Tracker(settings).get_run(result.best.run_id).model_ids[0]
    other = dataclasses.replace(settings, access=dataclasses.replace(
        settings.access, model_key=str(tmp_path / "other.key")))
    assert "another installation logged it" in Tracker(other).model_problem(model_id)
    with pytest.raises(UntrustedModel):
        Tracker(other).load_fitted(model_id)
    shutil.copyfile(settings.access.model_key, tmp_path / "other.key")
    assert Tracker(other).load_fitted(model_id) is not None


def test_a_tag_naming_a_folder_outside_the_workspace_is_not_followed(session, tmp_path):
    settings, result = session
    tracker = Tracker(settings)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tracker.set_tags(result.parent_run_id, {T.ARTIFACTS_DIR: str(elsewhere)})
    try:
        run = tracker.get_run(result.parent_run_id)
        assert T.ARTIFACTS_DIR not in run.tags and folders.local_folder(run.tags) is None
        fetched = folders.session_folder(tracker, run)  # from MLflow, into the cache
        assert fetched.is_relative_to(settings.artifacts_dir / folders.CACHE_SUBDIR)
        assert (fetched / "best_model_info.json").is_file() and not any(elsewhere.iterdir())
    finally:
        tracker.set_tags(result.parent_run_id, {T.ARTIFACTS_DIR: str(result.artifacts_dir)})
    assert tracker.get_run(result.parent_run_id).tags[T.ARTIFACTS_DIR] == \
        str(result.artifacts_dir)


@pytest.mark.parametrize("run_id", ["../../etc", "a/b", "", "x" * 65, ".hidden"])
def test_run_ids_are_checked_before_they_name_a_path(session, run_id):
    settings, _ = session
    with pytest.raises(InputError, match="is not an MLflow run id"):
        Tracker(settings).get_run(run_id)
    if run_id:  # an empty id means "no resume": no lock to take
        with pytest.raises(InputError, match="is not an MLflow run id"), \
                resume_lock(settings.workspace, run_id):
            pass
    forged = RunRecord(run_id, "0", "x", "FINISHED", 0, 1)
    with pytest.raises(InputError, match="is not an MLflow run id"):
        folders.cache_folder(Tracker(settings), forged)


def _comparison(settings: Settings, trusted: bool, monkeypatch) -> AppTest:
    for name in ("MLFLOW_TRACKING_URI", "MODELDEV_ARTIFACTS_DIR", "MODELDEV_CONTEXT_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELDEV_WORKSPACE", str(settings.workspace))
    monkeypatch.setenv("MODELDEV_TRUST_TRACKING_SERVER", "1" if trusted else "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(S.PAGE_COMPARISON).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_comparison_page_never_loads_a_swapped_model_by_itself(session, tmp_path,
                                                                   monkeypatch):
    """The page opens on the best model's detail: with its pickle swapped for a payload it
    says why it does not load it; a trusted server asks first, and loads it on the click."""
    settings, result = session
    tracker = Tracker(settings)
    marker = tmp_path / "ran"
    forged = _forged_model(settings.tracking_uri, tracker.get_run(result.parent_run_id)
                           .experiment_id, marker, tmp_path)
    ours = tracker.get_run(result.best.run_id).model_ids[0]
    pickled = next(Path(tracker.model_location(ours).removeprefix("file://"))
                   .rglob("python_model.pkl"))
    original = pickled.read_bytes()
    shutil.copyfile(next((tmp_path / f"forged-{forged}").rglob("python_model.pkl")), pickled)
    try:
        at = _comparison(settings, False, monkeypatch)
        assert any("is not loaded: its signature does not match" in e.value.replace("\\", "")
                   for e in at.error), [e.value for e in at.error]
        assert not marker.exists()
        at = _comparison(settings, True, monkeypatch)
        assert any("Loading it runs its code" in w.value.replace("\\", "") for w in at.warning)
        assert not marker.exists()  # told first, nothing loaded yet
        at.button(key=f"{S.TRUST_PREFIX}{result.best.run_id}").click().run()
        assert marker.exists()  # loaded on the analyst's explicit request
    finally:
        pickled.write_bytes(original)


def test_a_forged_run_on_a_real_tracking_server_is_refused(tmp_path, monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "MODELDEV_MODEL_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    with server_support.mlflow_server(tmp_path) as (uri, _):
        tracker = Tracker(resolve_settings(tmp_path / "ws", uri))
        experiment = tracker.experiment_id("shared")
        marker = tmp_path / "ran"
        model_id = _forged_model(uri, experiment, marker, tmp_path)
        assert tracker.model_problem(model_id) == "it carries no signature of this installation"
        with pytest.raises(UntrustedModel):
            tracker.load_model(f"models:/{model_id}")
        assert not marker.exists()
