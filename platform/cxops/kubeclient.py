"""The Kubernetes API client every CXOps backend uses (canaries on KServe, RayJobs on KubeRay)."""

from __future__ import annotations

from kubernetes import client, config

__all__ = ["ConfigException", "load_api_client"]

ConfigException = config.ConfigException


def load_api_client() -> client.ApiClient:
    """An ApiClient of its own (the client's global default is left alone): the kubeconfig (honouring
    $KUBECONFIG), else the pod's service account. ConfigException when neither is there."""
    from os.path import exists, expanduser

    if exists(expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)):
        return config.new_client_from_config()
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)
    return client.ApiClient(configuration)
