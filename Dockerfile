# IRVAE Lab web app on port 8501 (CPU; the torch wheel also runs on CUDA hosts).
#   docker build -t irvae-lab .
#   docker run -p 8501:8501 -v "$PWD/lab-data:/data" irvae-lab                    # your lab: runs in /data/runs
#   docker run -p 8501:8501 -v "$PWD/lab-data:/data" -e IRVAE_DEMO=1 irvae-lab    # a public, read-only demo
# (README "Running it for others": what a visitor of each can and cannot do.) Not built on the project's machine,
# which runs no Docker daemon: checked by reading (tests/test_environment.py reads its lines).
FROM python:3.11-slim
WORKDIR /app
# the app's exact versions and hashes (requirements.lock, refreshed by `./lab lock`); no test tools
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
# the code, the shipped examples and reproductions and the CMU sample (.dockerignore leaves out .venv, runs, caches)
COPY . .
ENV IRVAE_RUNS=/data/runs
# The app's data-folder fields accept only folders under /data (irvae_core/data/roots.py).
ENV IRVAE_DATA_ROOTS=/data
VOLUME ["/data"]
EXPOSE 8501
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
