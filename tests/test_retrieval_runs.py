"""Retrieval on real (tiny) runs: cached embeddings, flattened and supervised runs, ResNet-50, the CLI."""

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from irvae_core.cli import main
from irvae_core.config import ConfigError
from irvae_core.data import load_dataset
from irvae_core.retrieval.embeddings import cache_dir, resnet50_embeddings, resnet50_weights, run_embeddings
from irvae_core.retrieval.evaluation import evaluate_retrieval
from irvae_core.retrieval.protocol import RetrievalError
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import save_checkpoint
from irvae_core.store.runs import open_run
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.flattening import FlattenConfig, flatten
from irvae_core.train.trainer import train
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # trains face runs

FACES = {"data.name": "synthetic-faces", "data.options": {"n": 100}, "model.arch": "fc", "model.hidden": [32],
         "model.latent_dim": 4, "model.out_act": "tanh", "train.epochs": 1}


def faces_config(**overrides):
    return tiny_config(**{**FACES, **overrides})


@pytest.fixture(scope="module")
def face_run(tmp_path_factory):
    return train(faces_config(), str(tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="module")
def faces():
    return load_dataset("synthetic-faces", n=100)


def test_embeddings_are_the_mean_codes_and_a_new_checkpoint_is_never_served_old_ones(face_run, faces, tmp_path):
    run = open_run(shutil.copytree(face_run.path, tmp_path / "run"))
    model = load_model(run)
    x = torch.stack([faces.test[i][0] for i in range(len(faces.test))])
    emb = run_embeddings(run, "test")
    torch.testing.assert_close(emb.z, model.encoder(x)[:, :4].detach())  # the mean half of the encoder output
    assert emb.attributes.dtype == torch.bool and emb.names == faces.label_names
    assert len(list((run.path / "cache").glob("embeddings-test-*.pt"))) == 1
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    save_checkpoint(run.file("best.pt"), {"model": model.state_dict(), "epoch": 1})
    fresh = run_embeddings(run, "test")
    torch.testing.assert_close(fresh.z, model.encode(x).detach())
    assert not torch.allclose(fresh.z, emb.z) and len(list((run.path / "cache").glob("embeddings-test-*"))) == 2
    torch.testing.assert_close(run_embeddings(run, "test").z, fresh.z)  # now from the cache


def test_a_read_only_run_folder_caches_under_irvae_cache_or_the_runs_folder(face_run, tmp_path, monkeypatch):
    run_path = shutil.copytree(face_run.path, tmp_path / "shipped" / "example")
    (run_path / "cache").write_text("a file where the cache folder would go: the run folder is not writable")

    run = open_run(run_path)
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("IRVAE_CACHE", raising=False)
    assert cache_dir(run).parent == tmp_path / "runs" / ".cache"
    monkeypatch.setenv("IRVAE_CACHE", str(tmp_path / "cache"))
    assert cache_dir(run).parent == tmp_path / "cache" and cache_dir(run).name.startswith("example-")
    emb = run_embeddings(run, "test")
    assert list(cache_dir(run).glob("embeddings-test-*.pt")) and len(emb) == 10


def test_a_flattened_run_embeds_with_the_code_after_the_flattening_map(face_run, faces, tmp_path):
    flat = flatten(face_run, FlattenConfig(epochs=1, depth=2, width=16), runs_dir=tmp_path)
    model = load_model(flat)
    x = torch.stack([faces.test[i][0] for i in range(len(faces.test))])
    emb = run_embeddings(flat, "test")
    torch.testing.assert_close(emb.z, model.fm(model.base.encode(x)).detach())
    assert not torch.allclose(emb.z, run_embeddings(face_run, "test").z)
    assert evaluate_retrieval(flat)["method"] == "VAE+FM"


def test_supervised_binary_relevance_learns_the_attributes_and_embeds_unit_vectors(faces, tmp_path):
    run = train(faces_config(**{"model.kind": "br", "train.epochs": 3}), str(tmp_path))
    assert run.status()["state"] == "done" and run.config().model.latent_dim == len(faces.label_names)
    history = run.metrics()
    assert history[-1]["train_bce"] < history[0]["train_bce"]  # it learns from the labels
    model = load_model(run)
    x, y = faces.val[0][0][None], faces.val[0][1][None]
    logits = model.encoder(x) / model.encoder(x).norm(dim=1, keepdim=True)
    torch.testing.assert_close(model.loss(x, y).loss, F.binary_cross_entropy_with_logits(logits, y))
    emb = run_embeddings(run, "test")
    torch.testing.assert_close(emb.z.norm(dim=1), torch.ones(len(emb)))
    report = evaluate_retrieval(run)
    assert report["method"] == "BR" and report["paper"]["SAR"]["P@1"] == 87.5
    with pytest.raises(ValueError, match="has no decoder"):
        evaluate_run(run)
    with pytest.raises(ConfigError, match="has no decoder to regularize"):
        train(faces_config(**{"model.kind": "br", "reg.kind": "ir"}), str(tmp_path))
    with pytest.raises(ConfigError, match="digits has class labels"):
        train(tiny_config(**{"model.kind": "br"}), str(tmp_path))


def test_resnet50_is_used_only_from_the_local_torch_cache(faces, tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("IRVAE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(RetrievalError, match="needs torchvision's weights file resnet50-0676ba61.pth in .*nothing is "
                                             "downloaded"):
        resnet50_weights()
    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None).eval()
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(net.state_dict(), folder / "resnet50-0676ba61.pth")
    emb = resnet50_embeddings(faces, "test")
    x = torch.stack([faces.test[i][0] for i in range(len(faces.test))])
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    net.fc = torch.nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(emb.z, net(((x + 1) / 2 - mean) / std), rtol=1e-4, atol=1e-4)
    assert emb.z.shape == (10, 2048) and list((tmp_path / "cache" / "resnet50").glob("embeddings-test-*.pt"))


def test_retrieve_prints_sar_and_dar_beside_the_papers_row(face_run, capsys):
    assert main(["retrieve", str(face_run.path)]) == 0
    out = capsys.readouterr().out
    assert "SAR (10 attributes)" in out and "DAR (" in out
    assert "60.0    60.5    61.0    58.4   paper, Table 1 (CelebA)" in out  # the VAE's row
    assert main(["retrieve", str(face_run.path), "--json", "--split", "val"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "val" and result["n_gallery"] == 10 and result["n_train"] == 80
    assert set(result["SAR"]["mean"]) == {"P@1", "P@5", "P@10", "P@20"} and len(result["SAR"]["per_query"]) <= 10


def test_retrieve_refuses_bad_input_in_one_sentence(tmp_path, monkeypatch, capsys):
    digits = train(tiny_config(**{"train.epochs": 1}), str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for args, message in [([str(digits.path)], "digits has class labels, not attributes"),
                          ([str(tmp_path / "missing")], "missing does not exist"),
                          (["--baseline", "resnet50", "--dataset", "synthetic-faces"], "nothing is downloaded")]:
        assert main(["retrieve", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    for args, message in [([], "give either RUN_DIR or --baseline resnet50"),
                          (["--baseline", "resnet50"], "--baseline resnet50 needs --dataset")]:
        with pytest.raises(SystemExit) as e:
            main(["retrieve", *args])
        assert e.value.code == 2 and message in capsys.readouterr().err
