variable "namespace" {
  description = "Namespace where the controller runs and the only one it watches: the CXOps platform namespace, where the retraining and monitoring workflows run. It must exist already."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "The namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "chart_version" {
  description = "Version of the argo-workflows chart (https://argoproj.github.io/argo-helm); 2.x installs Argo Workflows v4, which the Hera 7 workflows of CXOps target."
  type        = string
  default     = "2.0.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.chart_version))
    error_message = "The chart version must be a release version such as 2.0.1."
  }
}

variable "workflow_service_account" {
  description = "Service account the workflows run as; the chart grants it the executor's permissions in the namespace (the CXOps chart creates the account)."
  type        = string
  default     = "cxops-pipeline"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", var.workflow_service_account))
    error_message = "The service account must be a Kubernetes object name."
  }
}

variable "install_crds" {
  description = "Install the Argo Workflows CRDs with the chart (keep true unless another installation owns them)."
  type        = bool
  default     = true
}

variable "timeout_seconds" {
  description = "How long Helm waits for the controller and server to become ready before the install is rolled back."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout must lie between 60 and 3600 seconds."
  }
}
