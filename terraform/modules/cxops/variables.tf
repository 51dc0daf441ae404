variable "namespace" {
  description = "Platform namespace (API, drift monitor, InferenceServices, RayJobs, workflows); it must exist already."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "The namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "chart_path" {
  description = "Path of the CXOps Helm chart (the repository's helm/cxops), absolute or relative to the directory Terraform runs in."
  type        = string

  validation {
    condition     = length(trimspace(var.chart_path)) > 0
    error_message = "The chart path must not be empty."
  }
}

variable "release_name" {
  description = "Helm release name of the platform."
  type        = string
  default     = "cxops"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.release_name)) && length(var.release_name) <= 40
    error_message = "The release name must be a DNS label of at most 40 characters."
  }
}

variable "image_registry" {
  description = "Registry prefix of the platform, drift-monitor and predictor images (<registry>/<image>:<tag>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$", var.image_registry))
    error_message = "The image registry must look like registry.example.com/cxops (no scheme, no trailing slash)."
  }
}

variable "deployment_mode" {
  description = "KServe deployment mode the chart renders InferenceServices for: Serverless or Standard (must match the kserve module's)."
  type        = string
  default     = "Serverless"

  validation {
    condition     = contains(["Serverless", "Standard"], var.deployment_mode)
    error_message = "The deployment mode must be Serverless or Standard."
  }
}

variable "artifact_bucket_uri" {
  description = "Object-storage prefix where RayJob inputs and outputs are staged (CXOPS_STAGING_URI), such as s3://bucket/cxops or gs://bucket/cxops."
  type        = string

  validation {
    condition     = can(regex("^(s3|gs)://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/.*)?$", var.artifact_bucket_uri))
    error_message = "The artifact bucket URI must start with s3:// or gs:// followed by a bucket name."
  }
}

variable "s3_endpoint" {
  description = "S3-compatible endpoint (MinIO, for instance) for the staging bucket (CXOPS_S3_ENDPOINT); null for AWS S3 or a gs:// bucket."
  type        = string
  default     = null

  validation {
    condition     = var.s3_endpoint == null || can(regex("^https?://[^/\\s]+/?$", var.s3_endpoint))
    error_message = "The S3 endpoint must be an http:// or https:// URL with no path, such as https://minio.example.com."
  }
}

variable "database_url" {
  description = "SQLAlchemy URL of the metadata store (CXOPS_DATABASE_URL), with credentials."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^postgres(ql)?(\\+psycopg)?://", var.database_url))
    error_message = "The database URL must be a postgresql:// URL."
  }
}

variable "redis_url" {
  description = "redis:// URL of the Feast online store (CXOPS_REDIS_URL), with credentials."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^rediss?://", var.redis_url))
    error_message = "The Redis URL must start with redis:// or rediss://."
  }
}

variable "retrain_backend" {
  description = "How an alert's retraining runs: argo (a Hera workflow) or kfp (a Kubeflow Pipelines run; needs KFP installed)."
  type        = string
  default     = "argo"

  validation {
    condition     = contains(["argo", "kfp"], var.retrain_backend)
    error_message = "The retrain backend must be argo or kfp."
  }
}

variable "argo_server_url" {
  description = "In-cluster URL of the Argo server (CXOPS_ARGO_SERVER)."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.argo_server_url))
    error_message = "The Argo server URL must be an http:// or https:// URL."
  }
}

variable "kfp_host" {
  description = "In-cluster URL of the Kubeflow Pipelines API (CXOPS_KFP_HOST); null keeps the chart's default."
  type        = string
  default     = null

  validation {
    condition     = var.kfp_host == null || can(regex("^https?://", var.kfp_host))
    error_message = "The KFP host must be an http:// or https:// URL."
  }
}

variable "knative_namespaces" {
  description = "Namespaces whose pods carry Serverless requests into the predictors (the NetworkPolicy lets them in)."
  type        = list(string)
  default     = ["knative-serving", "kourier-system"]

  validation {
    condition     = alltrue([for ns in var.knative_namespaces : can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", ns))])
    error_message = "Every Knative namespace must be a DNS label."
  }
}

variable "extra_settings" {
  description = "Further plain CXOPS_* settings for the platform ConfigMap; they win over the chart's own keys."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.extra_settings) : can(regex("^CXOPS_[A-Z0-9_]+$", key))])
    error_message = "Every extra setting must be named CXOPS_<UPPER_CASE>, the environment form of a cxops.config.Settings field."
  }
}

variable "monitor_token" {
  description = "Bearer token of the `drift-monitor` user, stored as key `token` of the cxops-monitor Secret. The platform accepts only tokens it issued (`cxops auth issue --user drift-monitor`, which stores their digest): null writes a random placeholder that authenticates nothing, so issue a token after the first apply and apply again with it."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.monitor_token == null ? true : length(var.monitor_token) >= 32
    error_message = "The monitor token must be at least 32 characters."
  }
}

variable "serving_models" {
  description = "The chart's serving.models (one InferenceService each). Usually left empty and taken from the values file `cxops deploy render` writes (extra_values_files), which wins when both are given."
  type = list(object({
    name   = string
    team   = optional(string)
    stable = object({ version = string, image = string })
    canary = optional(object({
      version = string
      image   = string
      percent = number
      name    = optional(string)
    }))
    resources      = object({ requests = map(string), limits = map(string) })
    gpus           = optional(number)
    minReplicas    = optional(number)
    maxReplicas    = optional(number)
    scaleTarget    = optional(number)
    timeoutSeconds = optional(number)
  }))
  default = []

  validation {
    condition = alltrue([
      for m in var.serving_models :
      can(regex("^[a-z]([-a-z0-9]*[a-z0-9])?$", m.name)) && length(m.name) <= 42
    ])
    error_message = "Every model name must be a DNS label of at most 42 characters starting with a letter."
  }

  validation {
    condition = alltrue([
      for m in var.serving_models : m.canary == null || (try(m.canary.percent, 0) >= 0 && try(m.canary.percent, 0) <= 100)
    ])
    error_message = "A canary's percent must lie between 0 and 100."
  }
}

variable "extra_values_files" {
  description = "YAML values files passed after the module's own values (later files win), such as the one `cxops deploy render` writes with serving.models."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for f in var.extra_values_files : can(regex("\\.ya?ml$", f))])
    error_message = "Every extra values file must be a .yaml or .yml file."
  }
}

variable "timeout_seconds" {
  description = "How long Helm waits for the platform's workloads before the release is rolled back."
  type        = number
  default     = 900

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout must lie between 60 and 3600 seconds."
  }
}
