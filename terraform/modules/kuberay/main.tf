# The KubeRay operator: CXOps submits each training run as a RayJob (training_backend = rayjob) in the
# platform namespace; the operator watches every namespace, so nothing else needs configuring here.
resource "helm_release" "operator" {
  name             = "kuberay-operator"
  repository       = "https://ray-project.github.io/kuberay-helm/"
  chart            = "kuberay-operator"
  version          = var.chart_version
  namespace        = var.namespace
  create_namespace = true

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true
}
