# syntax=docker/dockerfile:1
# The platform image, `<CXOPS_IMAGE_REGISTRY>/cxops-platform:<version>`: the cxops package with its pinned
# environment (requirements/image.lock: the platform's lock plus Ray's dashboard for RayJob head nodes) and
# the project files it reads by name (models/, pipelines/, policies/, feature_repo/, serving/). The API
# server, every pipeline step, every Argo workflow and every RayJob pod run it. From the repository root:
#
#   docker build -f platform/images/platform.Dockerfile -t registry.local/cxops/cxops-platform:0.1.0 .
#
# TORCH=cuda (default) installs PyTorch's CUDA build from PyPI, for GPU Ray workers; TORCH=cpu the CPU build
# the lock pins, for a smaller image on CPU-only clusters.
FROM python:3.11.11-slim-bookworm

ARG TORCH=cuda
ARG UV_VERSION=0.13.8
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    CXOPS_ROOT=/opt/cxops \
    CXOPS_HOME=/tmp/cxops \
    RAY_USAGE_STATS_ENABLED=0

# The user every pod runs as (the chart's securityContext): getpass and Ray need a passwd entry.
RUN groupadd --gid 10001 cxops \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin cxops

WORKDIR /opt/cxops
COPY requirements/image.lock requirements/image.lock
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && if [ "$TORCH" = "cuda" ]; then \
      grep -v '^torch==' requirements/image.lock > /tmp/image.lock \
      && uv pip install --system --no-cache "torch==$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' requirements/image.lock)"; \
    else \
      cp requirements/image.lock /tmp/image.lock; \
    fi \
 && uv pip install --system --no-cache --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/image.lock \
 && rm /tmp/image.lock

COPY pyproject.toml README.md ./
COPY platform platform
COPY models models
COPY pipelines pipelines
COPY policies policies
COPY feature_repo feature_repo
COPY serving serving
COPY requirements requirements
RUN uv pip install --system --no-cache --no-deps . \
 && python -c "import cxops, cxops.deploy.crds, pipelines.training"

USER 10001:10001
HEALTHCHECK NONE
CMD ["cxops", "--help"]
