# syntax=docker/dockerfile:1
# The drift monitor's image, `<CXOPS_IMAGE_REGISTRY>/cxops-drift-monitor:<version>`: the cxops_drift service
# in its own environment (requirements/monitor.lock: Alibi Detect 0.11.4, pydantic 1, numpy < 1.25, CPU
# PyTorch), which cannot live with the platform's. From the repository root:
#
#   docker build -f platform/images/drift-monitor.Dockerfile -t registry.local/cxops/cxops-drift-monitor:0.1.0 .
FROM python:3.11.11-slim-bookworm

ARG UV_VERSION=0.13.8
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PYTHONPATH=/opt/cxops/platform

RUN groupadd --gid 10001 cxops \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin cxops

WORKDIR /opt/cxops
COPY requirements/monitor.lock requirements/monitor.lock
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && uv pip install --system --no-cache --extra-index-url https://download.pytorch.org/whl/cpu \
      -r requirements/monitor.lock

# Only the monitor's package, from source (PYTHONPATH): `cxops` and its environment are not in this image.
COPY platform/cxops_drift platform/cxops_drift
RUN python -c "import cxops_drift.app"

USER 10001:10001
EXPOSE 8091
HEALTHCHECK NONE
CMD ["python", "-m", "cxops_drift", "serve", "--host", "0.0.0.0", "--port", "8091", "--state", "/var/lib/cxops-drift"]
