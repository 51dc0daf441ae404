output "namespace" {
  description = "Namespace of the Argo controller and server (the namespace its workflows run in)."
  value       = helm_release.argo_workflows.namespace
}

output "server_url" {
  description = "In-cluster URL of the Argo server (CXOPS_ARGO_SERVER)."
  value       = "https://argo-server.${helm_release.argo_workflows.namespace}.svc:2746"
}

output "version" {
  description = "argo-workflows chart version installed."
  value       = helm_release.argo_workflows.version
}
