"""Face retrieval: pick attributes (or upload photos) and see the nearest test faces of one or two runs."""

from __future__ import annotations

import streamlit as st

from app_pages.common import friendly_errors, from_link, link_choice, link_list, publish_link, run_picker, seed
from irvae_core.data.roots import allowed_data_folder
from irvae_core.demo import demo_mode
from irvae_core.experiments.examples import all_runs, page_default
from irvae_core.retrieval.protocol import KS
from irvae_core.store.runs import default_runs_dir, open_run
from irvae_core.store.summaries import checkpoint_mtime, example_label
from irvae_core.views.retrieval import RetrievalSource, query_runs, retrieval_runs, retrieval_source
from irvae_core.viz.retrieval import captioned_images, retrieval_grid

STATIC = {"displayModeBar": False}  # image grids: no zoom or pan buttons over the captions


@st.cache_resource(max_entries=4, show_spinner="Loading the run and embedding its faces (once per checkpoint)...")
def cached_source(path: str, mtime: float | None, root: str | None) -> RetrievalSource:
    """A run's model, data and train / test embeddings (re-read when its checkpoint changes)."""
    return retrieval_source(open_run(path), allowed_data_folder(root))


st.title("Face retrieval")
st.markdown("Show the computer a few example faces and it finds the test faces most like them, using only the "
            "run's latent codes: no labels are used to search. The examples are every training face with the "
            "attributes you pick (or your own photos); each result gets a ✓ or ✗ for those attributes.")
runs = {str(r.path): r for r in retrieval_runs(all_runs(default_runs_dir()))}
if not runs:
    st.info("No finished run on a face data set yet: on the Train page, train a VAE and an IRVAE on "
            "synthetic-faces (offline) or celeba (your CelebA folder), then come back.")
    st.page_link("app_pages/train.py", label="Go to Train")
    st.stop()

names = {p: f"{example_label(r)} · {r.raw_config()['data']['name']}" for p, r in runs.items()}
choice = run_picker("retrieval-runs", "Runs (one, or two side by side)", list(runs),
                    page_default("retrieval", list(runs), own=2), names.get)
left, right = st.columns(2)
mode = left.radio("Query with", ["attributes", "my own photos"], horizontal=True)
seed("retrieval-k", int(from_link("k", link_choice(["5", "10", "15", "20"]), "10")))
k = right.slider("Results per run (K)", 5, 20, step=5, key="retrieval-k")
root = "" if demo_mode() else st.text_input(
    "CelebA folder (only when a run's data folder has moved)", "",
    help="The folder holding celeba/ (img_align_celeba, list_attr_celeba.txt, ...).")
if not choice:
    st.info("Choose one or two runs.")
    st.stop()

sources: list[RetrievalSource] = []
with friendly_errors("Could not load the runs"):
    sources = [cached_source(p, checkpoint_mtime(runs[p]), root.strip() or None) for p in choice]
if len(sources) != len(choice):
    st.stop()
attribute_names = sources[0].train.names
default = [a for a in ("Smiling", "Eyeglasses") if a in attribute_names][:1] or attribute_names[:1]
uploads = []
if mode == "attributes":
    seed("retrieval-attributes", from_link("attributes", link_list(attribute_names, 2, "attribute"), default))
    attributes = st.multiselect("Attributes (one or two)", attribute_names, max_selections=2,
                                key="retrieval-attributes")
    publish_link(choice, k=k, attributes=attributes)  # a copied link opens this query
else:
    limit = st.get_option("server.maxUploadSize")
    files = st.file_uploader(f"Your photos (JPEG or PNG, up to {limit} MB each)", type=["jpg", "jpeg", "png"],
                             accept_multiple_files=True)
    uploads = [(f.name, f.getvalue()) for f in files or []]
    attributes = st.multiselect("Attributes to check in the results (optional)", attribute_names, max_selections=2)
    publish_link(choice, k=k)
    if not uploads:
        st.info("Upload one or more photos of faces: they are centre-cropped and resized like the data set.")
        st.stop()

with friendly_errors("Could not retrieve"):
    view = query_runs(sources, attributes, uploads, k)  # a bad upload is one sentence (UploadError)
    what = " and ".join(a.replace("_", " ") for a in attributes)
    label = (f"The {view.query_count} training faces with {what} (a few shown)" if not uploads
             else f"Your {view.query_count} photo(s), as the model sees them")
    st.subheader("Query")
    st.caption(label)
    st.plotly_chart(captioned_images(view.query_images, columns=8, height_per_row=110), key="query-grid",
                    config=STATIC)
    st.subheader(f"Top {k} test faces")
    for col, answer in zip(st.columns(len(view.answers)), view.answers):
        col.markdown(f"**{answer.label}**")
        if answer.result.attributes:
            p = answer.result.precision
            col.metric(f"P@{k}: share of the {k} results with {what}", f"{100 * p[k]:.0f}%",
                       help=" · ".join(f"P@{kk} {100 * p[kk]:.0f}%" for kk in KS if kk in p))
        col.plotly_chart(retrieval_grid(answer.images, answer.result.marks, answer.result.attributes,
                                        ids=answer.result.top), key=f"results-{answer.label}", config=STATIC)
    st.caption("Ranked by the summed cosine similarity of each test face's latent code to the query faces' codes "
               "(Lee et al., ICLR 2022, Section 5.2). Green: the face has every chosen attribute. The command "
               "`python -m irvae_core retrieve RUN_DIR` measures this over all attributes and pairs.")
