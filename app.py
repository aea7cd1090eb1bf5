"""IRVAE Lab web app: `streamlit run app.py` (or `./lab app`). Runs live in $IRVAE_RUNS (default ./runs)."""

import streamlit as st

st.set_page_config(page_title="IRVAE Lab", layout="wide")
st.navigation([
    st.Page("pages/home.py", title="Home", default=True),
    st.Page("pages/train.py", title="Train", url_path="train"),
    st.Page("pages/latent.py", title="Latent geometry", url_path="latent"),
    st.Page("pages/tradeoff.py", title="Tradeoff", url_path="tradeoff"),
    st.Page("pages/interpolation.py", title="Interpolation", url_path="interpolation"),
    st.Page("pages/retrieval.py", title="Face retrieval", url_path="retrieval"),
    st.Page("pages/mocap.py", title="Motion capture", url_path="mocap"),
]).run()
