output "serving_namespace" {
  description = "Namespace Knative Serving runs in."
  value       = kubernetes_namespace_v1.serving.metadata[0].name
}

output "serving_version" {
  description = "Knative Serving version requested from the operator."
  value       = var.serving_version
}

output "ingress_class" {
  description = "The Knative ingress class in use (Kourier)."
  value       = local.network_config["ingress-class"]
}
