# Valkey (the Linux Foundation's Redis fork, wire-compatible with the redis<5 client Feast uses) from
# its official chart, as the Feast online store. Authentication is on: the default user's password
# lives in a Secret created here, which the chart reads (key = user name).
resource "random_password" "default_user" {
  length  = 32
  special = false
}

locals {
  password    = coalesce(var.password, random_password.default_user.result)
  host        = "${var.release_name}.${var.namespace}.svc.cluster.local"
  port        = 6379
  secret_name = "${var.release_name}-users"
}

resource "kubernetes_secret_v1" "users" {
  metadata {
    name      = local.secret_name
    namespace = var.namespace
  }
  data = {
    default = local.password
  }
}

resource "helm_release" "valkey" {
  name             = var.release_name
  repository       = "https://valkey.io/valkey-helm/"
  chart            = "valkey"
  version          = var.chart_version
  namespace        = var.namespace
  create_namespace = false

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true

  values = [yamlencode({
    fullnameOverride = var.release_name
    auth = {
      enabled             = true
      usersExistingSecret = kubernetes_secret_v1.users.metadata[0].name
      aclUsers = {
        default = {
          permissions = "~* &* +@all"
        }
      }
    }
    dataStorage = {
      enabled       = true
      requestedSize = var.storage_size
    }
  })]
}
