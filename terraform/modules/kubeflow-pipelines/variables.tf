variable "cluster_scoped_manifest_url" {
  description = "HTTPS URL of the rendered cluster-scoped KFP manifests: the output of `kustomize build manifests/kustomize/cluster-scoped-resources` at the pinned KFP tag (namespace, CRDs, cluster roles)."
  type        = string

  validation {
    condition     = can(regex("^https://", var.cluster_scoped_manifest_url))
    error_message = "The cluster-scoped manifest URL must be an https:// URL."
  }
}

variable "cluster_scoped_manifest_sha256" {
  description = "SHA-256 (hex) of the cluster-scoped manifest file: the download is refused when its content differs, so the install stays pinned."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.cluster_scoped_manifest_sha256))
    error_message = "The checksum must be 64 lower-case hexadecimal digits (sha256sum output)."
  }
}

variable "namespaced_manifest_url" {
  description = "HTTPS URL of the rendered namespaced KFP manifests: the output of `kustomize build manifests/kustomize/env/platform-agnostic` at the same KFP tag."
  type        = string

  validation {
    condition     = can(regex("^https://", var.namespaced_manifest_url))
    error_message = "The namespaced manifest URL must be an https:// URL."
  }
}

variable "namespaced_manifest_sha256" {
  description = "SHA-256 (hex) of the namespaced manifest file."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.namespaced_manifest_sha256))
    error_message = "The checksum must be 64 lower-case hexadecimal digits (sha256sum output)."
  }
}

variable "namespace" {
  description = "Namespace the manifests were rendered for (KFP's standalone manifests use kubeflow); used for the API URL output."
  type        = string
  default     = "kubeflow"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "The namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "skip_argo_crds" {
  description = "Leave out the Argo Workflows CRDs shipped in KFP's cluster-scoped manifests, because the argo-workflows module's chart owns them (two owners of one CRD fight over it)."
  type        = bool
  default     = true
}
