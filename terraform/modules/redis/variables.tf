variable "namespace" {
  description = "Namespace Valkey runs in; it must exist already (the environment creates the data namespace)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "The namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "release_name" {
  description = "Helm release name, also the name of the Service clients connect to."
  type        = string
  default     = "cxops-redis"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.release_name)) && length(var.release_name) <= 40
    error_message = "The release name must be a DNS label of at most 40 characters (Helm appends suffixes to it)."
  }
}

variable "chart_version" {
  description = "Version of the valkey chart (https://valkey.io/valkey-helm/)."
  type        = string
  default     = "0.9.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.chart_version))
    error_message = "The chart version must be a release version such as 0.9.0."
  }
}

variable "password" {
  description = "Password of the Valkey default user; null generates a random one (kept in the Terraform state, which must therefore be protected)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.password == null || can(regex("^[A-Za-z0-9]{24,}$", var.password))
    error_message = "The password must be at least 24 letters and digits (it is embedded in a redis:// URL)."
  }
}

variable "storage_size" {
  description = "Size of the persistent volume holding the data (Feast's online store can be rebuilt by materialising again, but persistence avoids a cold start)."
  type        = string
  default     = "8Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|Ti)$", var.storage_size))
    error_message = "The storage size must be a Kubernetes quantity in Mi, Gi or Ti, such as 8Gi."
  }
}

variable "timeout_seconds" {
  description = "How long Helm waits for Valkey to become ready before the install is rolled back."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout must lie between 60 and 3600 seconds."
  }
}
