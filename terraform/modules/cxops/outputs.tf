output "namespace" {
  description = "Platform namespace."
  value       = helm_release.cxops.namespace
}

output "release_name" {
  description = "Helm release name of the platform."
  value       = helm_release.cxops.name
}

output "platform_secret_name" {
  description = "Secret with CXOPS_DATABASE_URL, CXOPS_REDIS_URL and CXOPS_PSEUDONYM_KEY."
  value       = kubernetes_secret_v1.platform.metadata[0].name
}

output "monitor_secret_name" {
  description = "Secret with the drift monitor's bearer token (key `token`)."
  value       = kubernetes_secret_v1.monitor.metadata[0].name
}

output "pseudonym_key" {
  description = "HMAC key for customer pseudonyms (CXOPS_PSEUDONYM_KEY); keep a copy outside the cluster."
  value       = random_password.pseudonym_key.result
  sensitive   = true
}
