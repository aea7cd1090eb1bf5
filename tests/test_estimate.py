"""The epoch-time estimate (irvae_core/estimate.py) and the Train page's warning before a long run."""

import math

import pytest
import torch

from irvae_core.config import apply_overrides, preset_config
from irvae_core.data import DataError, load_dataset
from irvae_core.data.synthetic_faces import write_celeba_layout
from irvae_core.experiments.jobs import get_manager
from irvae_core.store.checkpoints import build_model
from irvae_core.store.runs import open_run
from irvae_core.train.estimate import estimate_epoch_seconds, format_duration
from irvae_core.train.resolve import resolve_config
from irvae_core.train.trainer import count_parameters
from tests.app_helpers import open_page, widget
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # timed training steps and AppTest


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    write_celeba_layout(root, n=30, seed=9, image_size=(89, 109))
    return root


def test_estimate_times_the_runs_own_steps_and_scales_them_to_an_epoch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(**{"reg.kind": "ir", "reg.alpha": 1.0, "train.batch_size": 50})
    data = load_dataset("digits")
    rng = torch.get_rng_state()
    est = estimate_epoch_seconds(cfg, data, steps=3)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's random stream is untouched
    assert list(tmp_path.iterdir()) == []  # nothing written outside a temporary folder
    assert est.steps == math.ceil(len(data.train) / 50) and est.val_steps == math.ceil(len(data.val) / 50)
    assert est.timed_steps == 3 and est.batch_shape == (50, *data.x_shape) and est.device == "cpu"
    assert est.parameters == count_parameters(build_model(resolve_config(cfg), data.x_shape))
    assert est.seconds == pytest.approx(est.steps * est.step_seconds + est.val_steps * est.val_seconds)
    assert 0 < est.val_seconds and 0 < est.step_seconds < est.seconds
    assert est.describe().startswith(f"About {format_duration(est.seconds)} an epoch on cpu: {est.steps} steps")


def test_a_first_step_over_the_budget_is_the_estimate(faces):
    cfg = apply_overrides(preset_config("celeba"), {"data.root": str(faces)})
    est = estimate_epoch_seconds(cfg, budget_s=0.0)
    assert est.timed_steps == 0 and "from the first step alone" in est.describe()
    assert est.conv_width == 16 and est.batch_shape == (24, 3, 64, 64) and est.steps == 1


def test_the_supervised_baseline_is_timed_with_its_labels(faces):
    cfg = apply_overrides(preset_config("celeba"), {"data.root": str(faces), "model.kind": "br"})
    est = estimate_epoch_seconds(cfg, budget_s=0.0)
    enc = [(3, 16, 5), (16, 32, 5), (32, 64, 5), (64, 128, 5), (128, 10, 1)]  # width 16, 10 fixture attributes
    assert est.parameters == sum(cin * cout * k * k + cout for cin, cout, k in enc) and est.seconds > 0


def test_estimate_of_missing_data_is_a_data_error():
    cfg = apply_overrides(preset_config("celeba"), {"data.root": None})
    with pytest.raises(DataError, match="reads files from a folder: give its root"):
        estimate_epoch_seconds(cfg)


def test_a_network_too_big_for_memory_is_one_sentence(faces):
    cfg = apply_overrides(preset_config("celeba"), {"data.root": str(faces), "model.conv_width": 200_000})
    with pytest.raises(ValueError, match=r"this network does not fit in memory at batch 100 on auto .*: try a smaller"):
        estimate_epoch_seconds(cfg)


def test_format_duration():
    assert [format_duration(s) for s in (42, 210, 7560)] == ["42 s", "3.5 min", "2.1 h"]


def fill_celeba_form(at, faces):
    widget(at.selectbox, "Start from a preset (CPU schedule)").set_value("celeba-conv").run()
    assert widget(at.number_input, "Conv width (empty: the paper's)").value == 16
    widget(at.text_input, "Data folder (real datasets only)").set_value(str(faces))
    widget(at.number_input, "Epochs").set_value(1)
    widget(at.number_input, "Conv width (empty: the paper's)").set_value(4)
    widget(at.checkbox, "Write TensorBoard logs").uncheck()


def test_train_page_estimates_an_epoch_without_starting_a_run(faces, tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/train.py")
    fill_celeba_form(at, faces)
    widget(at.button, "Estimate time per epoch").click().run()
    assert not at.exception and not at.error and not at.warning
    assert "an epoch on cpu: 1 steps of" in at.info[0].value and "(24, 3, 64, 64)" in at.info[0].value
    assert get_manager(tmp_path).jobs() == []


def test_train_page_warns_before_a_slow_run_and_starts_it_on_a_second_press(faces, tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/train.py")
    fill_celeba_form(at, faces)
    widget(at.number_input, "Warn above (minutes an epoch)").set_value(0.0)
    widget(at.button, "Start training").click().run()
    assert not at.exception and "That is more than 0 s" in at.warning[0].value
    assert "press Start training again" in at.warning[1].value and get_manager(tmp_path).jobs() == []
    widget(at.button, "Start training").click().run()
    [job] = get_manager(tmp_path).jobs()
    assert "in the background" in at.success[0].value
    assert get_manager(tmp_path).wait(job.id, timeout=120).state == "done"
    cfg = open_run(job.runs[0]).config()
    assert (cfg.data.name, cfg.model.conv_width, cfg.train.epochs) == ("celeba", 4, 1)
