variable "kubeconfig_path" {
  description = "Path of the kubeconfig file of the existing cluster everything is installed into."
  type        = string
  default     = "~/.kube/config"

  validation {
    condition     = length(trimspace(var.kubeconfig_path)) > 0
    error_message = "The kubeconfig path must not be empty."
  }
}

variable "kubeconfig_context" {
  description = "Context of the kubeconfig to use; null uses the file's current context."
  type        = string
  default     = null

  validation {
    condition     = var.kubeconfig_context == null ? true : length(trimspace(var.kubeconfig_context)) > 0
    error_message = "The kubeconfig context must not be blank; leave it null to use the current context."
  }
}

variable "platform_namespace" {
  description = "Namespace of the CXOps platform: API, drift monitor, InferenceServices, RayJobs and Argo workflows."
  type        = string
  default     = "cxops"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.platform_namespace)) && length(var.platform_namespace) <= 63
    error_message = "The platform namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "data_namespace" {
  description = "Namespace of the platform's stores: PostgreSQL (metadata) and Valkey (Feast online store)."
  type        = string
  default     = "cxops-data"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.data_namespace)) && length(var.data_namespace) <= 63
    error_message = "The data namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "artifact_bucket_uri" {
  description = "Object-storage prefix for staged training data and models (s3://bucket/prefix or gs://bucket/prefix). The bucket itself is not created here."
  type        = string

  validation {
    condition     = can(regex("^(s3|gs)://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/.*)?$", var.artifact_bucket_uri))
    error_message = "The artifact bucket URI must start with s3:// or gs:// followed by a bucket name."
  }
}

variable "s3_endpoint" {
  description = "S3-compatible endpoint of the artifact bucket (MinIO, for instance); null for AWS S3 or a gs:// bucket."
  type        = string
  default     = null

  validation {
    condition     = var.s3_endpoint == null || can(regex("^https?://[^/\\s]+/?$", var.s3_endpoint))
    error_message = "The S3 endpoint must be an http:// or https:// URL with no path."
  }
}

variable "image_registry" {
  description = "Registry prefix the CXOps images are pushed to (<registry>/cxops-platform:<version>, predictor images)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$", var.image_registry))
    error_message = "The image registry must look like registry.example.com/cxops (no scheme, no trailing slash)."
  }
}

variable "deployment_mode" {
  description = "KServe deployment mode: Serverless (Knative with Kourier; canaryTrafficPercent) or Standard (no Knative)."
  type        = string
  default     = "Serverless"

  validation {
    condition     = contains(["Serverless", "Standard"], var.deployment_mode)
    error_message = "The deployment mode must be Serverless or Standard."
  }
}

variable "kserve_version" {
  description = "KServe version (tag of its OCI charts)."
  type        = string
  default     = "v0.20.0"

  validation {
    condition     = can(regex("^v0\\.[0-9]+\\.[0-9]+(-rc[0-9]+)?$", var.kserve_version))
    error_message = "The KServe version must be a tag such as v0.20.0."
  }
}

variable "ingress_domain" {
  description = "DNS suffix of the model endpoints (<model>-<namespace>.<domain>)."
  type        = string
  default     = "example.com"

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}$", var.ingress_domain))
    error_message = "The ingress domain must be a DNS name such as models.example.com."
  }
}

variable "kfp_manifests" {
  description = "Rendered Kubeflow Pipelines manifests (see terraform/README.md): URLs and SHA-256 of the cluster-scoped and namespaced files. null leaves KFP out (retraining then runs as Argo workflows)."
  type = object({
    cluster_scoped_url    = string
    cluster_scoped_sha256 = string
    namespaced_url        = string
    namespaced_sha256     = string
  })
  default = null
}

variable "retrain_backend" {
  description = "How an alert's retraining runs: argo, or kfp (requires kfp_manifests)."
  type        = string
  default     = "argo"

  validation {
    condition     = contains(["argo", "kfp"], var.retrain_backend)
    error_message = "The retrain backend must be argo or kfp."
  }
}

variable "chart_path" {
  description = "Path of the CXOps chart, relative to this environment's directory or absolute."
  type        = string
  default     = "../../../helm/cxops"

  validation {
    condition     = length(trimspace(var.chart_path)) > 0
    error_message = "The chart path must not be empty."
  }
}

variable "extra_values_files" {
  description = "Values files for the CXOps chart, relative to this environment's directory or absolute: typically the one `cxops deploy render` writes (serving.models from the specs and the registry)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for f in var.extra_values_files : can(regex("\\.ya?ml$", f))])
    error_message = "Every extra values file must be a .yaml or .yml file."
  }
}

variable "monitor_token" {
  description = "Bearer token of the `drift-monitor` user (issue it with `cxops auth issue --user drift-monitor` once the platform runs); null: a placeholder that authenticates nothing."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.monitor_token == null ? true : length(var.monitor_token) >= 32
    error_message = "The monitor token must be at least 32 characters."
  }
}
