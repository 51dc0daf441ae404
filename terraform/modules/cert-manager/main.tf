# cert-manager issues the webhook certificates of KServe (and of any other admission webhook that asks
# for one). Its CRDs are installed by the chart and kept on uninstall, so that deleting the release
# never deletes every Certificate in the cluster.
resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = var.chart_version
  namespace        = var.namespace
  create_namespace = true

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true

  values = [yamlencode({
    crds = {
      enabled = true
      keep    = true
    }
  })]
}
