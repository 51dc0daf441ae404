variable "namespace" {
  description = "Namespace of the KServe controller (created when missing)."
  type        = string
  default     = "kserve"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "The namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "kserve_version" {
  description = "Version of the KServe OCI charts kserve-crd and kserve (both are released together)."
  type        = string
  default     = "v0.20.0"

  validation {
    condition     = can(regex("^v0\\.(1[5-9]|[2-9][0-9])\\.[0-9]+(-rc[0-9]+)?$", var.kserve_version))
    error_message = "The KServe version must be a release tag v0.15.0 or later, such as v0.20.0 (the Standard mode name exists from 0.15 on)."
  }
}

variable "deployment_mode" {
  description = "Default InferenceService deployment mode: Serverless (Knative: scale to zero, canaryTrafficPercent) or Standard (plain Deployments, no Knative)."
  type        = string
  default     = "Serverless"

  validation {
    condition     = contains(["Serverless", "Standard"], var.deployment_mode)
    error_message = "The deployment mode must be Serverless or Standard."
  }
}

variable "ingress_domain" {
  description = "DNS suffix KServe uses in InferenceService URLs (<name>-<namespace>.<domain>)."
  type        = string
  default     = "example.com"

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}$", var.ingress_domain))
    error_message = "The ingress domain must be a DNS name such as models.example.com."
  }
}

variable "ingress_class_name" {
  description = "IngressClass of the Ingress objects KServe creates for InferenceServices in Standard mode."
  type        = string
  default     = "nginx"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", var.ingress_class_name))
    error_message = "The ingress class name must be a Kubernetes object name (lower-case letters, digits, '-' and '.')."
  }
}

variable "timeout_seconds" {
  description = "How long Helm waits for each release to become ready before it is rolled back."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout must lie between 60 and 3600 seconds."
  }
}
