output "platform_namespace" {
  description = "Namespace of the CXOps platform."
  value       = module.cxops.namespace
}

output "kserve_deployment_mode" {
  description = "KServe's default deployment mode (Serverless or Standard)."
  value       = module.kserve.deployment_mode
}

output "argo_server_url" {
  description = "In-cluster URL of the Argo server."
  value       = module.argo_workflows.server_url
}

output "kfp_api_url" {
  description = "In-cluster URL of the Kubeflow Pipelines API; null when KFP is not installed."
  value       = one(module.kubeflow_pipelines[*].api_url)
}

output "postgresql_host" {
  description = "In-cluster DNS name of the PostgreSQL primary."
  value       = module.postgresql.host
}

output "redis_host" {
  description = "In-cluster DNS name of the Valkey service."
  value       = module.redis.host
}

output "redis_secret_name" {
  description = "Secret holding the Valkey default user's password, in the data namespace."
  value       = module.redis.secret_name
}

output "database_url" {
  description = "CXOPS_DATABASE_URL, with credentials."
  value       = module.postgresql.url
  sensitive   = true
}

output "redis_url" {
  description = "CXOPS_REDIS_URL, with credentials."
  value       = module.redis.url
  sensitive   = true
}

output "pseudonym_key" {
  description = "CXOPS_PSEUDONYM_KEY, the HMAC key of customer pseudonyms: keep a copy outside the cluster."
  value       = module.cxops.pseudonym_key
  sensitive   = true
}
