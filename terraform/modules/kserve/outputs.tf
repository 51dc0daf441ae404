output "namespace" {
  description = "Namespace of the KServe controller."
  value       = helm_release.controller.namespace
}

output "deployment_mode" {
  description = "Default InferenceService deployment mode, in CXOps' terms (Serverless or Standard)."
  value       = var.deployment_mode
}

output "controller_deployment_mode" {
  description = "The same mode under KServe 0.20's name (Knative or Standard), as written to the controller's configuration."
  value       = local.controller_mode
}

output "version" {
  description = "KServe version installed."
  value       = helm_release.controller.version
}
