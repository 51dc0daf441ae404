output "host" {
  description = "In-cluster DNS name of the primary (the read-write Service)."
  value       = local.host
  depends_on  = [helm_release.cluster]
}

output "port" {
  description = "PostgreSQL port."
  value       = local.port
}

output "database" {
  description = "Name of the CXOps metadata database."
  value       = var.database
}

output "user" {
  description = "Role CXOps connects as (owner of the database)."
  value       = var.user
}

output "secret_name" {
  description = "basic-auth Secret with the owner's username and password, in the database namespace."
  value       = kubernetes_secret_v1.owner.metadata[0].name
}

output "url" {
  description = "postgresql:// URL with credentials (CXOPS_DATABASE_URL)."
  value       = "postgresql://${var.user}:${random_password.owner.result}@${local.host}:${local.port}/${var.database}"
  sensitive   = true
  depends_on  = [helm_release.cluster]
}
