"""IRVAE Lab web app: `streamlit run app.py` (or `./lab app`). Runs live in $IRVAE_RUNS (default ./runs).

The pages live in app_pages/, not pages/: Streamlit treats a folder named pages/ beside the entry point
as a legacy multipage app, which a visitor opening a page URL first would land in instead of this
navigation. Each page keeps its URL (/train, /latent, ...) through url_path.
"""

import streamlit as st

from irvae_core.demo import BANNER, demo_mode

st.set_page_config(page_title="IRVAE Lab", layout="wide")
if demo_mode():  # ./lab app --demo, IRVAE_DEMO=1: on every page
    st.info(BANNER, icon=":material/visibility:")
st.navigation([
    st.Page("app_pages/home.py", title="Home", default=True),
    st.Page("app_pages/train.py", title="Train", url_path="train"),
    st.Page("app_pages/latent.py", title="Latent geometry", url_path="latent"),
    st.Page("app_pages/tradeoff.py", title="Tradeoff", url_path="tradeoff"),
    st.Page("app_pages/interpolation.py", title="Interpolation", url_path="interpolation"),
    st.Page("app_pages/distances.py", title="Distances", url_path="distances"),
    st.Page("app_pages/retrieval.py", title="Face retrieval", url_path="retrieval"),
    st.Page("app_pages/mocap.py", title="Motion capture", url_path="mocap"),
]).run()
