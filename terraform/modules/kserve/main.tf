# KServe from its two OCI charts: the CRDs first, then the controller. KServe 0.20 names the modes
# Knative and Standard; "Serverless" (the older name of Knative mode, still what CXOps calls it) is
# translated here so the controller's ConfigMap carries the current name.
locals {
  controller_mode = var.deployment_mode == "Serverless" ? "Knative" : "Standard"
  serverless      = var.deployment_mode == "Serverless"
}

resource "helm_release" "crds" {
  name             = "kserve-crd"
  repository       = "oci://ghcr.io/kserve/charts"
  chart            = "kserve-crd"
  version          = var.kserve_version
  namespace        = var.namespace
  create_namespace = true

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true
}

resource "helm_release" "controller" {
  name             = "kserve"
  repository       = "oci://ghcr.io/kserve/charts"
  chart            = "kserve"
  version          = var.kserve_version
  namespace        = var.namespace
  create_namespace = true

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true

  values = [yamlencode({
    kserve = {
      controller = {
        deploymentMode = local.controller_mode
        gateway = {
          domain = var.ingress_domain
          # With Kourier there is no Istio: KServe must not create Istio VirtualServices.
          disableIstioVirtualHost = local.serverless
          ingressGateway = {
            className = var.ingress_class_name
          }
        }
      }
    }
  })]

  depends_on = [helm_release.crds]
}
