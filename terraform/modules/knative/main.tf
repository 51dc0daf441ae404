# Knative Serving for KServe's Serverless mode, installed the way the Knative project recommends: the
# Knative Operator (a Helm chart), then one KnativeServing resource that tells it which Serving version
# to run and which networking layer to use. Kourier is chosen over net-istio: it is the lightest
# ingress Knative supports and needs no service mesh.
resource "helm_release" "operator" {
  name             = "knative-operator"
  repository       = "https://knative.github.io/operator"
  chart            = "knative-operator"
  version          = var.operator_chart_version
  namespace        = var.operator_namespace
  create_namespace = true

  atomic          = true
  wait            = true
  timeout         = var.timeout_seconds
  cleanup_on_fail = true
}

resource "kubernetes_namespace_v1" "serving" {
  metadata {
    name = var.serving_namespace
    labels = {
      "app.kubernetes.io/part-of" = "knative-serving"
    }
  }
}

locals {
  network_config = {
    "ingress-class" = "kourier.ingress.networking.knative.dev"
  }
  # An empty value under a domain key makes it the default domain for every route.
  domain_config = var.domain == null ? {} : { domain = { (var.domain) = "" } }
}

# The KnativeServing kind is served by the CRD the operator chart installs. kubernetes_manifest reads
# that CRD's schema while planning, so on a cluster without the operator the first apply must target
# the chart first (see terraform/README.md).
resource "kubernetes_manifest" "serving" {
  manifest = {
    apiVersion = "operator.knative.dev/v1beta1"
    kind       = "KnativeServing"
    metadata = {
      name      = "knative-serving"
      namespace = kubernetes_namespace_v1.serving.metadata[0].name
    }
    spec = {
      version = var.serving_version
      ingress = {
        kourier = {
          enabled = true
        }
      }
      config = merge({ network = local.network_config }, local.domain_config)
    }
  }

  wait {
    condition {
      type   = "Ready"
      status = "True"
    }
  }

  timeouts {
    create = "${var.timeout_seconds}s"
    update = "${var.timeout_seconds}s"
  }

  depends_on = [helm_release.operator]
}
