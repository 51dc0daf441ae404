variable "namespace" {
  description = "Namespace cert-manager is installed into (created when missing)."
  type        = string
  default     = "cert-manager"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "The namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "chart_version" {
  description = "Version of the jetstack/cert-manager chart (the cert-manager release it installs)."
  type        = string
  default     = "v1.18.2"

  validation {
    condition     = can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$", var.chart_version))
    error_message = "The chart version must be a semantic version such as v1.18.2."
  }
}

variable "timeout_seconds" {
  description = "How long Helm waits for the release's workloads to become ready before the install is rolled back."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout must lie between 60 and 3600 seconds."
  }
}
