variable "namespace" {
  description = "Namespace of the KubeRay operator (created when missing)."
  type        = string
  default     = "kuberay-system"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "The namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "chart_version" {
  description = "Version of the kuberay-operator chart (https://ray-project.github.io/kuberay-helm/); CXOps submits RayJobs, which need 1.x."
  type        = string
  default     = "1.4.2"

  validation {
    condition     = can(regex("^1\\.[0-9]+\\.[0-9]+(-rc\\.?[0-9]+)?$", var.chart_version))
    error_message = "The KubeRay chart version must be a 1.x release such as 1.4.2."
  }
}

variable "timeout_seconds" {
  description = "How long Helm waits for the operator to become ready before the install is rolled back."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout must lie between 60 and 3600 seconds."
  }
}
