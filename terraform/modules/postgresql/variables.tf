variable "namespace" {
  description = "Namespace the PostgreSQL cluster runs in; it must exist already (the environment creates the data namespace)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "The namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "install_operator" {
  description = "Install the CloudNativePG operator; false when the cluster already runs one (it watches every namespace)."
  type        = bool
  default     = true
}

variable "operator_namespace" {
  description = "Namespace of the CloudNativePG operator (created when missing)."
  type        = string
  default     = "cnpg-system"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.operator_namespace)) && length(var.operator_namespace) <= 63
    error_message = "The operator namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "operator_chart_version" {
  description = "Version of the cloudnative-pg operator chart (https://cloudnative-pg.github.io/charts)."
  type        = string
  default     = "0.29.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.operator_chart_version))
    error_message = "The operator chart version must be a release version such as 0.29.1."
  }
}

variable "cluster_chart_version" {
  description = "Version of the CloudNativePG `cluster` chart that declares the database cluster."
  type        = string
  default     = "0.8.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.cluster_chart_version))
    error_message = "The cluster chart version must be a release version such as 0.8.1."
  }
}

variable "cluster_name" {
  description = "Name of the PostgreSQL cluster; its read-write Service is <cluster_name>-rw."
  type        = string
  default     = "cxops-postgres"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.cluster_name)) && length(var.cluster_name) <= 40
    error_message = "The cluster name must be a DNS label of at most 40 characters."
  }
}

variable "postgres_major_version" {
  description = "PostgreSQL major version of the cluster's image."
  type        = string
  default     = "17"

  validation {
    condition     = contains(["15", "16", "17", "18"], var.postgres_major_version)
    error_message = "The PostgreSQL major version must be one of 15, 16, 17 or 18."
  }
}

variable "instances" {
  description = "Number of PostgreSQL instances (one primary, the rest streaming replicas)."
  type        = number
  default     = 2

  validation {
    condition     = var.instances >= 1 && var.instances <= 9 && floor(var.instances) == var.instances
    error_message = "The number of instances must be a whole number from 1 to 9."
  }
}

variable "storage_size" {
  description = "Size of each instance's data volume."
  type        = string
  default     = "20Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|Ti)$", var.storage_size))
    error_message = "The storage size must be a Kubernetes quantity in Mi, Gi or Ti, such as 20Gi."
  }
}

variable "storage_class" {
  description = "StorageClass of the data volumes; null uses the cluster's default class."
  type        = string
  default     = null
}

variable "database" {
  description = "Name of the CXOps metadata database (registry, audit trail, lineage)."
  type        = string
  default     = "cxops"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.database))
    error_message = "The database name must be a lower-case SQL identifier of at most 63 characters."
  }
}

variable "user" {
  description = "Owner role of the database, the one CXOps connects as."
  type        = string
  default     = "cxops"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.user)) && var.user != "postgres"
    error_message = "The user must be a lower-case SQL identifier other than postgres."
  }
}

variable "timeout_seconds" {
  description = "How long Helm waits for each release before it is rolled back."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 3600
    error_message = "The timeout must lie between 60 and 3600 seconds."
  }
}
