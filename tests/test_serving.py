"""The hand-off on real MLflow (temp SQLite): the champion a tuning registers, its serving
card, `modeldev predict` against the model's signature, bad inputs, bounded memory, and a real
`mlflow models serve` answering as `modeldev predict` and the engine do.

One workspace for the module: a Phase 1 session (logistic regression and a random forest,
3 folds, a decision threshold tuned out of fold) on 150 rows of breast_cancer with an id and a
text column, tuned once over logistic regression's C; the tuning registers the model it
carries forward as `train_model@champion`. Tests that move the champion run last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import server_support

from modeldev.cli.main import main
from modeldev.config import resolve_settings
from modeldev.context import read_context
from modeldev.data.loading import load_demo, load_table
from modeldev.errors import InputError
from modeldev.phase1.results import TrainRequest
from modeldev.phase1.run import run_phase1
from modeldev.serving.predict import PredictRequest, load_scoring_model, score_table
from modeldev.serving.reading import open_table
from modeldev.tracking import tags as T
from modeldev.tracking import trust
from modeldev.tracking.tracker import Tracker
from modeldev.tuning.session import run_tuning
from modeldev.tuning.types import TuneRequest

FRAMEWORKS = ["sklearn_logistic_regression", "sklearn_random_forest"]
NAME = "train_model"
CHAMPION = f"models:/{NAME}@champion"
_ENV = ("MLFLOW_TRACKING_URI", "MODELDEV_WORKSPACE", "MODELDEV_ARTIFACTS_DIR",
        "MODELDEV_CONTEXT_PATH", "MODELDEV_CHILD_WRITES", "MODELDEV_TRUST_TRACKING_SERVER")


@pytest.fixture(scope="module")
def hand_off(tmp_path_factory: pytest.TempPathFactory):
    """The workspace, its Phase 1 session, the tuning that registered the champion, new rows."""
    ws = tmp_path_factory.mktemp("serving_ws")
    with pytest.MonkeyPatch.context() as mp:
        for name in _ENV:
            mp.delenv(name, raising=False)
        settings = resolve_settings(ws)
        frame = load_demo("breast_cancer").frame.sample(150, random_state=1)
        frame = frame.reset_index(drop=True)
        frame.insert(0, "customer_id", range(1000, 1150))  # ID-like: the model drops it
        frame["region"] = np.random.default_rng(0).choice(["north", "south", "=east"], 150)
        (ws / "data").mkdir()
        frame.to_csv(ws / "data" / "train.csv", index=False)
        source = load_table(ws / "data" / "train.csv")
        source.target = "target"
        phase1 = run_phase1(TrainRequest(source=source, frameworks=FRAMEWORKS, cv=3,
                                         repeats=1, threshold="tuned"), settings)
        tuned = run_tuning(TuneRequest(training_run_id=phase1.parent_run_id,
                                       framework=FRAMEWORKS[0], grid={"C": [0.1, 1.0]},
                                       workers=1), settings)
        new = load_demo("breast_cancer").frame.sample(40, random_state=2).reset_index(drop=True)
        new.insert(0, "customer_id", range(5000, 5040))
        new["region"] = ["north", "south", "=east", "west"] * 10  # west: never seen
        new.to_csv(ws / "data" / "new.csv", index=False)  # the target too: ignored
        yield SimpleNamespace(ws=ws, settings=settings, phase1=phase1, tuned=tuned, new=new,
                              new_csv=ws / "data" / "new.csv", tracker=Tracker(settings))


def modeldev(capfd: pytest.CaptureFixture, *args: str) -> tuple[int, str, list[str]]:
    """`modeldev ARGS` in this process: its exit code, stdout and the lines it said on stderr
    (in this process the session log's traceback lands there too; `test_the_real_command_...`
    checks stderr whole)."""
    capfd.readouterr()
    code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, [line for line in err.splitlines() if line.startswith("modeldev:")]


def subprocess_modeldev(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _ENV}
    return subprocess.run([sys.executable, "-m", "modeldev.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def fitted_champion(h: SimpleNamespace):
    [version] = [v for v in h.tracker.registered_versions() if v.name == NAME and
                 v.version == "1"]
    return h.tracker.load_fitted(version.model_id), version


def features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="target")


# ---------------------------------------------------------------- the registered champion


def test_the_tuning_registers_its_carried_model_as_the_champion(hand_off):
    h, tuned = hand_off, hand_off.tuned
    assert tuned.registration["registered_model"] == NAME
    assert tuned.registration["model_version"] == "1"
    outputs = read_context(h.settings.context_path)["epoch_005_outputs"]
    assert outputs["model_uri"] == CHAMPION
    assert (outputs["registered_model"], outputs["model_version"]) == (NAME, "1")
    assert Path(outputs["serving_card"]).is_file()
    assert outputs["logged_model_uri"] == tuned.carried_model_uri
    [version] = h.tracker.registered_versions()
    assert version.aliases == ("champion",)
    assert version.model_id == trust.model_id_of(tuned.carried_model_uri)
    tags = version.tags
    assert tags[T.VERSION_VERDICT] == tuned.verdict
    assert tags[T.VERSION_CARRIED] == tuned.carried_forward
    assert tags[T.VERSION_METRIC] == "f1_score"
    assert float(tags[T.VERSION_TEST_VALUE]) == pytest.approx(outputs["final_metric_value"])
    low, high = float(tags[T.VERSION_CI_LOW]), float(tags[T.VERSION_CI_HIGH])
    assert low <= float(tags[T.VERSION_TEST_VALUE]) <= high
    assert [low, high] == pytest.approx(outputs["final_metric_ci"])
    assert "bootstrap" in tags[T.VERSION_INTERVAL]
    assert tags[T.VERSION_PHASE1] == h.phase1.parent_run_id
    assert tags[T.VERSION_TUNING] == tuned.parent_run_id
    fitted, _ = fitted_champion(h)
    assert float(tags[T.VERSION_THRESHOLD]) == pytest.approx(fitted.threshold)


def test_the_serving_card_says_what_serves_it_and_what_it_costs(hand_off):
    h = hand_off
    path = read_context(h.settings.context_path)["epoch_005_outputs"]["serving_card"]
    card = json.loads(Path(path).read_text())
    assert card["serve"]["command"] == \
        f"mlflow models serve -m {CHAMPION} --env-manager local"
    assert card["serve"]["environment"]["MLFLOW_TRACKING_URI"] == h.settings.tracking_uri
    schema = {c["name"]: c["type"] for c in card["input_schema"]}
    assert list(schema) == list(features(pd.read_csv(h.ws / "data" / "train.csv")).columns)
    assert (schema["region"], schema["customer_id"], schema["mean radius"]) == \
        ("string", "long", "double")
    fitted, version = fitted_champion(h)
    model = card["model"]
    assert (model["registered_model"], model["version"]) == (NAME, "1")
    assert model["classes"] == ["benign", "malignant"]
    assert model["decision_threshold"] == pytest.approx(fitted.threshold)
    assert str(fitted.threshold) in card["output"]["default"]
    measured = card["measured"]
    assert "error" not in measured, measured
    assert measured["cold_load_seconds"] > 0 and measured["model_size_mib"] > 0
    for batch in ("batch_1", "batch_1024"):
        assert 0 < measured["latency_ms"][batch]["p50"] <= measured["latency_ms"][batch]["p95"]
    assert measured["peak_memory_mib"] >= measured["memory_after_load_mib"] > 0
    assert h.tracker.read_json_artifact(h.tuned.parent_run_id, "serving.json") == card
    assert version.tags[T.SERVING_CARD] == f"runs:/{h.tuned.parent_run_id}/serving.json"


def test_a_bad_registered_name_is_refused_before_anything_runs(hand_off):
    with pytest.raises(InputError, match="cannot name a registered model"):
        run_tuning(TuneRequest(training_run_id=hand_off.phase1.parent_run_id,
                               register_as="team/model"), hand_off.settings)


# ---------------------------------------------------------------- modeldev predict


def test_predict_scores_in_chunks_at_the_models_own_threshold(hand_off, tmp_path, capfd):
    h = hand_off
    out = tmp_path / "predictions.csv"
    code, stdout, err = modeldev(capfd, "predict", "--data", h.new_csv, "--out", out,
                                 "--proba", "--keep", "customer_id,region", "--chunk-rows", "7",
                                 "--json", "--workspace", h.ws)
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["rows"], summary["model_uri"], summary["model_version"]) == \
        (40, CHAMPION, "1")
    assert summary["ignored_columns"] == ["target"]
    fitted, _ = fitted_champion(h)
    assert summary["decision_threshold"] == pytest.approx(fitted.threshold)
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["customer_id", "region", "prediction", "probability_benign",
                                    "probability_malignant"]
    X = features(h.new)
    proba = fitted.predict_proba(X)
    assert list(scored["prediction"]) == list(np.where(proba[:, 1] > fitted.threshold,
                                                       "malignant", "benign"))
    assert list(scored["prediction"]) == list(fitted.predict(X))
    np.testing.assert_allclose(scored[["probability_benign", "probability_malignant"]], proba,
                               rtol=1e-5)  # float32 sums differ in the last bit by batch
    assert list(scored["customer_id"]) == list(h.new["customer_id"])
    assert "'=east" in set(scored["region"])  # formula-like cells neutralised, as every CSV


def test_predict_coerces_each_column_to_the_signature_and_writes_parquet(hand_off, tmp_path,
                                                                         capfd):
    h = hand_off
    odd = features(h.new).drop(columns="customer_id")  # not read by the model: not needed
    odd["mean radius"] = odd["mean radius"].map(str)  # numbers as text
    odd["region"] = [7, 8, 9, 10] * 10  # text as numbers
    odd.to_parquet(tmp_path / "odd.parquet", index=False)
    out = tmp_path / "odd_scored.parquet"
    code, stdout, err = modeldev(capfd, "predict", "--data", tmp_path / "odd.parquet",
                                 "--out", out, "--json", "--workspace", h.ws)
    assert code == 0, err
    assert json.loads(stdout)["converted_columns"] == ["mean radius", "region"]
    fitted, _ = fitted_champion(h)
    expected = features(h.new).assign(region=[str(v) for v in odd["region"]])
    assert list(pd.read_parquet(out)["prediction"]) == list(fitted.predict(expected))


@pytest.mark.parametrize(("case", "model", "sentence"), [
    ("missing", CHAMPION, "missing.csv lacks 2 column(s) the model needs: 'mean radius', "
                          "'worst area'."),
    ("wrong_type", CHAMPION, "Column 'mean texture' of wrong_type.csv should hold numbers "
                             "(the model was trained on double), but row 5 holds 'high'."),
    ("empty", CHAMPION, "the file is empty."),
    ("header_only", CHAMPION, "it has a header but no rows."),
    ("blank_lines", CHAMPION, "it has a header but no rows."),
    ("good", "models:/nope@champion", "No model at models:/nope@champion: Registered Model "
                                      "with name=nope not found."),
    ("good", "runs:/" + "0" * 32 + "/model", "No model at runs:/" + "0" * 32 + "/model"),
    ("good", "s3://bucket/model", "is not a model URI modeldev can load"),
])
def test_bad_input_is_one_sentence_and_exit_2_and_nothing_is_written(hand_off, tmp_path,
                                                                      capfd, case, model,
                                                                      sentence):
    h = hand_off
    data = tmp_path / f"{case}.csv"
    rows = features(h.new)
    if case == "missing":
        rows = rows.drop(columns=["mean radius", "worst area"])
    if case == "wrong_type":
        rows["mean texture"] = rows["mean texture"].astype(object)
        rows.loc[4, "mean texture"] = "high"
    header = ",".join(rows.columns) + "\n"
    text = {"empty": "", "header_only": header, "blank_lines": header + "\n\n\n"}
    if case in text:
        data.write_text(text[case])
    else:
        rows.to_csv(data, index=False)
    out = tmp_path / "kept.csv"
    out.write_text("an earlier output\n")
    code, _, err = modeldev(capfd, "predict", "--model", model, "--data", data, "--out", out,
                            "--workspace", h.ws)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("modeldev: error: ") and sentence in err[0], err
    assert out.read_text() == "an earlier output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([data.name, out.name])


def test_predict_shows_progress_and_what_it_did(hand_off, tmp_path, capfd):
    h = hand_off
    capfd.readouterr()
    assert main(["predict", "--data", str(h.new_csv), "--out", str(tmp_path / "p.csv"),
                 "--chunk-rows", "16", "--workspace", str(h.ws)]) == 0
    out, err = capfd.readouterr()
    assert "  40/40 rows scored" in err  # off a terminal: a progress line every few seconds
    seconds = out.split(" in ")[1].split(" s:")[0]
    assert out.splitlines()[:2] == [
        f"scored 40 rows with {CHAMPION} (version 1) in {seconds} s: {tmp_path / 'p.csv'}",
        "ignored columns the model does not take: target"]


def test_the_real_command_refuses_in_one_line(hand_off, tmp_path):
    h = hand_off
    features(h.new).drop(columns=["worst area"]).to_csv(tmp_path / "short.csv", index=False)
    done = subprocess_modeldev("predict", "--data", tmp_path / "short.csv", "--out",
                               tmp_path / "q.csv", "--workspace", h.ws)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["modeldev: error: short.csv lacks 1 column(s) the "
                                        "model needs: 'worst area'."]


def test_scoring_a_file_of_many_chunks_keeps_memory_bounded(hand_off, tmp_path):
    """Peak traced memory scoring 60,000 rows matches 10,000's (2,000 rows a chunk), and
    stays a fraction of what the whole table would take."""
    h = hand_off
    model = load_scoring_model(h.tracker, h.settings, CHAMPION)
    peaks = {}
    for n in (10_000, 60_000):
        rows = features(h.new).sample(n, replace=True, random_state=n)
        rows.to_csv(tmp_path / f"{n}.csv", index=False)
        table = open_table(tmp_path / f"{n}.csv", h.settings.limits)
        request = PredictRequest(CHAMPION, table.path, tmp_path / f"{n}_out.csv",
                                 chunk_rows=2_000)
        tracemalloc.start()
        result = score_table(model, table, request.out, request, h.settings.limits)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.rows == n == len(pd.read_csv(request.out))
        whole = int(rows.memory_usage(deep=True).sum())
    assert peaks[60_000] < 1.5 * peaks[10_000], peaks
    assert peaks[60_000] < whole / 4, (peaks, whole)


# ---------------------------------------------------------------- mlflow models serve


def test_mlflow_models_serve_answers_as_predict_and_the_engine_do(hand_off, tmp_path, capfd):
    h = hand_off
    X = features(h.new)
    code, _, err = modeldev(capfd, "predict", "--model", CHAMPION, "--data", h.new_csv,
                            "--out", tmp_path / "p.csv", "--proba", "--workspace", h.ws)
    assert code == 0, err
    ours = pd.read_csv(tmp_path / "p.csv")
    fitted, version = fitted_champion(h)
    with server_support.model_server(CHAMPION, h.settings.tracking_uri, tmp_path) as url:
        body = {"dataframe_split": json.loads(X.to_json(orient="split", index=False))}
        labels = _post(url, body)["predictions"]
        proba = _post(url, {**body, "params": {"output": "probability"}})["predictions"]
    assert labels == list(ours["prediction"]) == list(fitted.predict(X))
    served = pd.DataFrame(proba)[["benign", "malignant"]].to_numpy()
    np.testing.assert_allclose(served, ours[["probability_benign", "probability_malignant"]],
                               rtol=1e-5)
    np.testing.assert_allclose(served, fitted.predict_proba(X), rtol=1e-5)
    # serving wrote MLflow's registry note into the model's own folder; it stays signed
    folder = Path(h.tracker.model_location(version.model_id).removeprefix("file://"))
    assert (folder / trust.REGISTRY_NOTE).is_file()
    assert h.tracker.model_problem(version.model_id) is None


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


# ---------------------------------------------------------------- moving the champion


def test_registering_a_phase1_session_moves_the_champion(hand_off, capfd):
    h = hand_off
    code, stdout, err = modeldev(capfd, "register", "--run", h.phase1.parent_run_id, "--json",
                                 "--workspace", h.ws)
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["registered_model"], summary["model_version"]) == (NAME, "2")
    versions = {v.version: v for v in h.tracker.registered_versions()}
    assert versions["2"].aliases == ("champion",)
    assert versions["1"].aliases == ("previous_champion",)
    tags = versions["2"].tags
    assert tags[T.VERSION_VERDICT] == "phase1_winner"
    assert tags[T.VERSION_FRAMEWORK] == h.phase1.best.name
    assert "cross-validation folds" in tags[T.VERSION_INTERVAL]
    outputs = read_context(h.settings.context_path)["epoch_005_outputs"]
    assert outputs["model_version"] == "1"  # the context describes the tuning, not this run
    assert h.tracker.load_for_scoring(CHAMPION).model_id == versions["2"].model_id


def test_a_champion_whose_model_lost_its_signature_is_refused(hand_off, tmp_path, capfd):
    """`models:/NAME@champion` loads only after the logged model it names checks."""
    h = hand_off
    other = next(r for r in h.phase1.runs if r.name != h.phase1.best.name)
    model_id = h.tracker.get_run(other.run_id).model_ids[0]
    h.tracker.register_version("tampered", model_id, {})
    h.tracker.set_tags(other.run_id, {trust.signature_tag(model_id): "v1:" + "0" * 64})
    code, _, err = modeldev(capfd, "predict", "--model", "models:/tampered@champion",
                            "--data", h.new_csv, "--out", tmp_path / "p.csv",
                            "--workspace", h.ws)
    assert code == 1  # not bad input: the store holds a model it must not run
    assert f"Model {model_id} is not loaded: its signature does not match its files" in err[0]
    code, _, err = modeldev(capfd, "register", "--run", other.run_id, "--workspace", h.ws)
    assert code == 1 and "is not loaded" in err[0], err
    assert not (tmp_path / "p.csv").exists()
