# Kubeflow Pipelines 2.x ships kustomize manifests, not a Helm chart. Terraform cannot run kustomize,
# so this module applies manifests rendered beforehand (`kustomize build`, see terraform/README.md)
# and published at a pinned URL: each file is downloaded, checked against its SHA-256, split into
# documents, and every document becomes one kubernetes_manifest. No kubectl is involved.
data "http" "cluster_scoped" {
  url = var.cluster_scoped_manifest_url

  lifecycle {
    postcondition {
      condition     = self.status_code == 200
      error_message = "Downloading the cluster-scoped KFP manifests answered HTTP ${self.status_code}; check cluster_scoped_manifest_url."
    }
    postcondition {
      condition     = sha256(self.response_body) == var.cluster_scoped_manifest_sha256
      error_message = "The cluster-scoped KFP manifests do not match cluster_scoped_manifest_sha256: the file changed; render and pin it again."
    }
  }
}

data "http" "namespaced" {
  url = var.namespaced_manifest_url

  lifecycle {
    postcondition {
      condition     = self.status_code == 200
      error_message = "Downloading the namespaced KFP manifests answered HTTP ${self.status_code}; check namespaced_manifest_url."
    }
    postcondition {
      condition     = sha256(self.response_body) == var.namespaced_manifest_sha256
      error_message = "The namespaced KFP manifests do not match namespaced_manifest_sha256: the file changed; render and pin it again."
    }
  }
}

locals {
  # A document holds content when some line starts with neither a comment, a blank nor a '-'. The
  # `status` of a rendered object (kustomize may keep an empty one) is the cluster's to write.
  cluster_scoped_documents = [
    for doc in split("\n---\n", "\n${data.http.cluster_scoped.response_body}\n") :
    { for key, value in yamldecode(doc) : key => value if key != "status" }
    if length(regexall("(?m)^[^#\\s-]", doc)) > 0
  ]
  namespaced_documents = [
    for doc in split("\n---\n", "\n${data.http.namespaced.response_body}\n") :
    { for key, value in yamldecode(doc) : key => value if key != "status" }
    if length(regexall("(?m)^[^#\\s-]", doc)) > 0
  ]

  cluster_scoped = {
    for doc in local.cluster_scoped_documents :
    "${doc.kind}/${try(doc.metadata.namespace, "_")}/${doc.metadata.name}" => doc
    if !(var.skip_argo_crds && doc.kind == "CustomResourceDefinition" && try(doc.spec.group, "") == "argoproj.io")
  }
  namespaced = {
    for doc in local.namespaced_documents :
    "${doc.kind}/${try(doc.metadata.namespace, "_")}/${doc.metadata.name}" => doc
  }
}

# Namespace, CRDs and cluster roles first: the namespaced objects need them.
resource "kubernetes_manifest" "cluster_scoped" {
  for_each = local.cluster_scoped
  manifest = each.value
}

resource "kubernetes_manifest" "namespaced" {
  for_each = local.namespaced
  manifest = each.value

  depends_on = [kubernetes_manifest.cluster_scoped]
}
