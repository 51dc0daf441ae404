output "namespace" {
  description = "Namespace Kubeflow Pipelines runs in."
  value       = var.namespace
}

output "api_url" {
  description = "In-cluster URL of the KFP API server (CXOPS_KFP_HOST)."
  value       = "http://ml-pipeline.${var.namespace}:8888"
}

output "object_count" {
  description = "How many Kubernetes objects the two manifest files hold (cluster-scoped, namespaced)."
  value = {
    cluster_scoped = length(kubernetes_manifest.cluster_scoped)
    namespaced     = length(kubernetes_manifest.namespaced)
  }
}
