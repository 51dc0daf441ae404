output "namespace" {
  description = "Namespace of the KubeRay operator."
  value       = helm_release.operator.namespace
}

output "version" {
  description = "KubeRay operator chart version installed."
  value       = helm_release.operator.version
}
