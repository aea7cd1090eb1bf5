"""Which runs the Motion capture page shows and why not, in one sentence each; its default runs and offer."""

import os
import shutil

import pytest

from irvae_core.data import DataError
from irvae_core.data.synthetic_mocap import cmu_like_asf
from irvae_core.store.files import atomic_write_json
from irvae_core.store.runs import open_run
from irvae_core.train.resolve import resolve_config
from irvae_core.train.trainer import train
from irvae_core.views.mocap import check_cmu_folder, default_runs, mocap_runs, offered_runs, same_data
from tests.helpers import tiny_config, write_subject

pytestmark = pytest.mark.slow  # trains mocap runs

TINY = {"data.name": "synthetic-mocap", "data.options": {"n": 140}, "train.epochs": 1, "train.batch_size": 50}


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    cfg = tiny_config(**TINY)
    cfg.name = "vae"
    return train(cfg, str(tmp_path_factory.mktemp("runs")))


def copy(run, folder, name, **changes):
    """A copy of ``run`` named ``name``, its config's sections updated with ``changes``."""
    path = shutil.copytree(run.path, folder / name)
    raw = open_run(path).raw_config()
    atomic_write_json(path / "config.json", {**raw, "name": name, **{k: {**raw[k], **v} for k, v in changes.items()}})
    return open_run(path)


def test_each_run_the_page_cannot_show_is_named_in_one_sentence(vae, tmp_path):
    gone = copy(vae, tmp_path, "gone", data={"name": "cmu", "root": str(tmp_path / "no-such-folder")})
    flat = copy(vae, tmp_path, "flat", model={"latent_dim": 1})
    running = copy(vae, tmp_path, "running")
    running.set_status("running", epoch=1, epochs=20, pid=os.getpid())
    failed = copy(vae, tmp_path, "failed")
    failed.set_status("failed", error="loss is NaN")
    digits = train(tiny_config(**{"train.epochs": 1}), str(tmp_path))
    shown, problems, others = mocap_runs([vae, gone, flat, running, failed, digits])
    assert shown == [vae]
    assert problems == [
        f"gone was trained on CMU files from the folder {tmp_path / 'no-such-folder'}, which is gone; put the files "
        "back there to see its poses.",
        "flat has a latent space of size 1: the page draws a 2-D latent plane; train with 2 or more.",
        "running is still training; it is shown here once it has finished.",
        "failed has not finished (failed), so it has no trained model to draw poses from."]
    assert others == (f"Not listed: {digits.name}, trained on other data. This page shows motion capture runs, "
                      "trained on cmu, cmu-sample or synthetic-mocap.")


def test_default_runs_are_the_newest_vae_and_irvae_on_the_same_data(vae, tmp_path):
    irvae = copy(vae, tmp_path, "irvae", reg={"kind": "ir", "alpha": 1.0})
    other = copy(vae, tmp_path, "other-data", data={"options": {"n": 280}})
    assert default_runs([irvae, vae]) == [vae, irvae] and same_data([irvae, vae])
    assert default_runs([other, irvae, vae]) == [other] and not same_data([other, vae])
    assert default_runs([vae]) == [vae] and default_runs([]) == []


def test_the_offered_configs_resolve_to_the_papers_cmu_networks(tmp_path):
    for dataset, root in (("cmu-sample", None), ("synthetic-mocap", None), ("cmu", str(tmp_path))):
        vae, irvae = (resolve_config(c) for c in offered_runs(dataset, root))
        assert (vae.reg.kind, irvae.reg.kind) == ("none", "ir") and vae.data.name == irvae.data.name == dataset
        assert vae.model.hidden == [512, 512] and vae.model.latent_dim == 2 and vae.model.out_act == "tanh"
        assert vae.data.root == root and (vae.data.options == {"n": 7000}) == (dataset == "synthetic-mocap")
    with pytest.raises(ValueError, match="the page trains on cmu, cmu-sample or synthetic-mocap"):
        offered_runs("mnist5k")


def test_a_cmu_folder_is_checked_before_training(tmp_path):
    write_subject(tmp_path, "35", {"35_01": ("walking", 40), "35_17": ("jogging", 30)})
    summary = check_cmu_folder(str(tmp_path))
    assert summary.startswith("70 poses from 2 trials (training poses by class: walking ") and "jogging" in summary
    (tmp_path / "35.asf").write_text(cmu_like_asf().replace("rtoes", "rtoe"))  # a bone the motions do not name
    with pytest.raises(DataError, match=r"35_01.amc, line \d+: bone 'rtoes' is not in the skeleton .*35.asf"):
        check_cmu_folder(str(tmp_path))
    with pytest.raises(DataError, match="is not a folder"):
        check_cmu_folder(str(tmp_path / "missing"))
