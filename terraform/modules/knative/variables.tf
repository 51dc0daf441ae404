variable "operator_namespace" {
  description = "Namespace the Knative Operator is installed into (created when missing)."
  type        = string
  default     = "knative-operator"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.operator_namespace)) && length(var.operator_namespace) <= 63
    error_message = "The operator namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "serving_namespace" {
  description = "Namespace of Knative Serving itself (the KnativeServing resource and the components it deploys)."
  type        = string
  default     = "knative-serving"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.serving_namespace)) && length(var.serving_namespace) <= 63
    error_message = "The serving namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "operator_chart_version" {
  description = "Version of the knative-operator chart (https://knative.github.io/operator)."
  type        = string
  default     = "v1.21.1"

  validation {
    condition     = can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", var.operator_chart_version))
    error_message = "The operator chart version must be a release version such as v1.21.1."
  }
}

variable "serving_version" {
  description = "Knative Serving version the operator installs (major.minor or major.minor.patch); the operator supports its own release and the two before it."
  type        = string
  default     = "1.21"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+(\\.[0-9]+)?$", var.serving_version))
    error_message = "The Serving version must look like 1.21 or 1.21.1 (no leading v)."
  }
}

variable "domain" {
  description = "DNS suffix of the Knative routes (InferenceService URLs become <name>-<namespace>.<domain>); null keeps Knative's default (svc.cluster.local routes only)."
  type        = string
  default     = null

  validation {
    condition     = var.domain == null || can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "The domain must be a DNS name such as models.example.com."
  }
}

variable "timeout_seconds" {
  description = "How long Helm waits for the operator, and Terraform for KnativeServing to report Ready."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout must lie between 60 and 3600 seconds."
  }
}
