output "namespace" {
  description = "Namespace cert-manager runs in."
  value       = helm_release.cert_manager.namespace
}

output "version" {
  description = "The cert-manager chart version installed."
  value       = helm_release.cert_manager.version
}
