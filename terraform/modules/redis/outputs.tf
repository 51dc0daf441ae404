output "host" {
  description = "In-cluster DNS name of the Valkey service."
  value       = local.host
  depends_on  = [helm_release.valkey]
}

output "port" {
  description = "Port of the Valkey service."
  value       = local.port
}

output "secret_name" {
  description = "Secret holding the default user's password (key `default`), in the Valkey namespace."
  value       = kubernetes_secret_v1.users.metadata[0].name
}

output "url" {
  description = "redis:// URL with credentials (CXOPS_REDIS_URL)."
  value       = "redis://default:${local.password}@${local.host}:${local.port}/0"
  sensitive   = true
  depends_on  = [helm_release.valkey]
}
