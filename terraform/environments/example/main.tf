# CXOps on an existing Kubernetes cluster: the add-ons it depends on, its stores, then the platform
# chart. The order below is the dependency order; see terraform/README.md.

provider "kubernetes" {
  config_path    = pathexpand(var.kubeconfig_path)
  config_context = var.kubeconfig_context
}

provider "helm" {
  kubernetes = {
    config_path    = pathexpand(var.kubeconfig_path)
    config_context = var.kubeconfig_context
  }
}

locals {
  serverless = var.deployment_mode == "Serverless"

  # Paths given relative to this environment stay valid whatever directory Terraform is started from.
  chart_path         = startswith(var.chart_path, "/") ? var.chart_path : "${path.root}/${var.chart_path}"
  extra_values_files = [for f in var.extra_values_files : startswith(f, "/") ? f : "${path.root}/${f}"]
}

# The platform and data namespaces are shared by several modules, so they are created here, once.
resource "kubernetes_namespace_v1" "platform" {
  metadata {
    name = var.platform_namespace
    labels = {
      "app.kubernetes.io/part-of" = "cxops"
    }
  }
}

resource "kubernetes_namespace_v1" "data" {
  metadata {
    name = var.data_namespace
    labels = {
      "app.kubernetes.io/part-of" = "cxops"
    }
  }
}

module "cert_manager" {
  source = "../../modules/cert-manager"
}

module "knative" {
  source = "../../modules/knative"
  count  = local.serverless ? 1 : 0

  domain = var.ingress_domain
}

module "kserve" {
  source = "../../modules/kserve"

  kserve_version  = var.kserve_version
  deployment_mode = var.deployment_mode
  ingress_domain  = var.ingress_domain

  # Webhook certificates come from cert-manager; Serverless InferenceServices need Knative Serving.
  depends_on = [module.cert_manager, module.knative]
}

module "kuberay" {
  source = "../../modules/kuberay"
}

module "argo_workflows" {
  source = "../../modules/argo-workflows"

  namespace = kubernetes_namespace_v1.platform.metadata[0].name
}

module "kubeflow_pipelines" {
  source = "../../modules/kubeflow-pipelines"
  count  = var.kfp_manifests == null ? 0 : 1

  cluster_scoped_manifest_url    = var.kfp_manifests.cluster_scoped_url
  cluster_scoped_manifest_sha256 = var.kfp_manifests.cluster_scoped_sha256
  namespaced_manifest_url        = var.kfp_manifests.namespaced_url
  namespaced_manifest_sha256     = var.kfp_manifests.namespaced_sha256

  # No depends_on here: it would defer the module's manifest downloads to apply time and leave the
  # for_each over their documents unknown while planning. KFP's own Argo controller uses the Argo
  # CRDs of the argo-workflows chart and retries until they exist.
}

module "postgresql" {
  source = "../../modules/postgresql"

  namespace = kubernetes_namespace_v1.data.metadata[0].name
}

module "redis" {
  source = "../../modules/redis"

  namespace = kubernetes_namespace_v1.data.metadata[0].name
}

module "cxops" {
  source = "../../modules/cxops"

  namespace           = kubernetes_namespace_v1.platform.metadata[0].name
  chart_path          = local.chart_path
  image_registry      = var.image_registry
  deployment_mode     = var.deployment_mode
  artifact_bucket_uri = var.artifact_bucket_uri
  s3_endpoint         = var.s3_endpoint
  database_url        = module.postgresql.url
  redis_url           = module.redis.url
  retrain_backend     = var.retrain_backend
  argo_server_url     = module.argo_workflows.server_url
  kfp_host            = one(module.kubeflow_pipelines[*].api_url)
  knative_namespaces  = module.knative[*].serving_namespace
  monitor_token       = var.monitor_token
  extra_values_files  = local.extra_values_files

  # InferenceServices, RayJobs and Workflows are custom resources: their controllers come first.
  depends_on = [module.kserve, module.kuberay, module.argo_workflows, module.kubeflow_pipelines]
}

check "kfp_backend_has_kfp" {
  assert {
    condition     = var.retrain_backend != "kfp" || var.kfp_manifests != null
    error_message = "retrain_backend is kfp but kfp_manifests is null: Kubeflow Pipelines is not installed."
  }
}
