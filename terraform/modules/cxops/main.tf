# The CXOps platform itself: the two Secrets the chart expects to find (it never carries secrets in
# its values), then the chart from this repository.
resource "random_password" "pseudonym_key" {
  # HMAC key for customer pseudonyms: changing it breaks the link with every pseudonym written before.
  length  = 64
  special = false
}

resource "random_password" "monitor_token" {
  length  = 48
  special = false
}

locals {
  platform_secret_name = "cxops-platform"
  monitor_secret_name  = "cxops-monitor"

  # Optional attributes left unset are dropped rather than sent to the chart as nulls.
  serving_models = [
    for m in var.serving_models : merge(
      { for key, value in m : key => value if value != null && key != "canary" },
      m.canary == null ? {} : { canary = { for key, value in m.canary : key => value if value != null } },
    )
  ]

  values = {
    image = {
      registry = var.image_registry
    }
    platform = merge(
      {
        existingSecret  = local.platform_secret_name
        trainingBackend = "rayjob"
        retrainBackend  = var.retrain_backend
        stagingUri      = var.artifact_bucket_uri
        s3Endpoint      = coalesce(var.s3_endpoint, "")
        argoServer      = var.argo_server_url
        settings        = var.extra_settings
      },
      var.kfp_host == null ? {} : { kfpHost = var.kfp_host },
    )
    monitor = {
      alertTokenSecret = {
        name = local.monitor_secret_name
        key  = "token"
      }
    }
    serving = merge(
      { deploymentMode = var.deployment_mode },
      length(local.serving_models) == 0 ? {} : { models = local.serving_models },
    )
    networkPolicy = {
      knativeNamespaces = var.knative_namespaces
    }
  }
}

resource "kubernetes_secret_v1" "platform" {
  metadata {
    name      = local.platform_secret_name
    namespace = var.namespace
  }
  data = {
    CXOPS_DATABASE_URL  = var.database_url
    CXOPS_REDIS_URL     = var.redis_url
    CXOPS_PSEUDONYM_KEY = random_password.pseudonym_key.result
  }
}

resource "kubernetes_secret_v1" "monitor" {
  metadata {
    name      = local.monitor_secret_name
    namespace = var.namespace
  }
  data = {
    token = coalesce(var.monitor_token, random_password.monitor_token.result)
  }
}

resource "helm_release" "cxops" {
  name             = var.release_name
  chart            = var.chart_path
  namespace        = var.namespace
  create_namespace = false

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true

  values = concat(
    [yamlencode(local.values)],
    [for f in var.extra_values_files : file(f)],
  )

  depends_on = [kubernetes_secret_v1.platform, kubernetes_secret_v1.monitor]
}
