# Argo Workflows for CXOps' own workflows (Hera: scheduled monitoring checks, alert-triggered
# retraining). The controller is confined to the platform namespace (singleNamespace): Kubeflow
# Pipelines runs its own namespaced Argo controller in its namespace, and two controllers watching the
# same Workflows would both execute them. The CRDs are owned here and kept on uninstall.
resource "helm_release" "argo_workflows" {
  name             = "argo-workflows"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-workflows"
  version          = var.chart_version
  namespace        = var.namespace
  create_namespace = false

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true

  values = [yamlencode({
    # Services become argo-server and argo-workflow-controller.
    fullnameOverride = "argo"
    singleNamespace  = true
    crds = {
      install = var.install_crds
      keep    = true
    }
    workflow = {
      serviceAccount = {
        create = false
        name   = var.workflow_service_account
      }
      rbac = {
        create = true
      }
    }
    server = {
      enabled = true
    }
  })]
}
