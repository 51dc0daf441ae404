# PostgreSQL for the CXOps metadata store, run by the CloudNativePG operator: the operator chart, then
# its `cluster` chart declaring one Cluster. CloudNativePG's own images are maintained upstream (the
# Bitnami PostgreSQL chart's free images stopped receiving updates in 2025). The database owner's
# password is generated here and handed to the cluster as a basic-auth Secret at bootstrap.
resource "random_password" "owner" {
  length  = 32
  special = false
}

locals {
  host        = "${var.cluster_name}-rw.${var.namespace}.svc.cluster.local"
  port        = 5432
  secret_name = "${var.cluster_name}-owner"
}

resource "helm_release" "operator" {
  count = var.install_operator ? 1 : 0

  name             = "cloudnative-pg"
  repository       = "https://cloudnative-pg.github.io/charts"
  chart            = "cloudnative-pg"
  version          = var.operator_chart_version
  namespace        = var.operator_namespace
  create_namespace = true

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true
}

resource "kubernetes_secret_v1" "owner" {
  metadata {
    name      = local.secret_name
    namespace = var.namespace
  }
  type = "kubernetes.io/basic-auth"
  data = {
    username = var.user
    password = random_password.owner.result
  }
}

resource "helm_release" "cluster" {
  name             = var.cluster_name
  repository       = "https://cloudnative-pg.github.io/charts"
  chart            = "cluster"
  version          = var.cluster_chart_version
  namespace        = var.namespace
  create_namespace = false

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true

  values = [yamlencode({
    fullnameOverride = var.cluster_name
    type             = "postgresql"
    mode             = "standalone"
    version = {
      postgresql = var.postgres_major_version
    }
    cluster = {
      instances = var.instances
      storage = {
        size         = var.storage_size
        storageClass = coalesce(var.storage_class, "")
      }
      # A disruption budget on a single instance would block every node drain.
      enablePDB             = var.instances > 1
      enableSuperuserAccess = false
      initdb = {
        database = var.database
        owner    = var.user
        secret = {
          name = kubernetes_secret_v1.owner.metadata[0].name
        }
      }
    }
  })]

  depends_on = [helm_release.operator]
}
