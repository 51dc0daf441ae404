{{/* Names ----------------------------------------------------------------------------------------- */}}

{{- define "cxops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name when it contains the chart name (release `cxops` gives `cxops-api`, ...). */}}
{{- define "cxops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cxops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cxops.apiName" -}}{{ include "cxops.fullname" . }}-api{{- end }}
{{- define "cxops.monitorName" -}}{{ include "cxops.fullname" . }}-drift-monitor{{- end }}
{{- define "cxops.pipelineName" -}}{{ include "cxops.fullname" . }}-pipeline{{- end }}
{{- define "cxops.predictorName" -}}{{ include "cxops.fullname" . }}-predictor{{- end }}
{{- define "cxops.postgresName" -}}{{ include "cxops.fullname" . }}-postgresql{{- end }}
{{- define "cxops.platformConfigName" -}}{{ include "cxops.fullname" . }}-platform{{- end }}

{{/* Labels ---------------------------------------------------------------------------------------- */}}

{{- define "cxops.labels" -}}
helm.sh/chart: {{ include "cxops.chart" . }}
app.kubernetes.io/name: {{ include "cxops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: cxops
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Standard labels plus the component: (dict "ctx" $ "component" "api"). */}}
{{- define "cxops.componentLabels" -}}
{{ include "cxops.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The immutable subset used by selectors. */}}
{{- define "cxops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cxops.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Images -------------------------------------------------------------------------------------- */}}

{{- define "cxops.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "cxops.platformImage" -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.image.registry) .Values.image.platform (include "cxops.tag" .) }}
{{- end }}

{{- define "cxops.monitorImage" -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.image.registry) .Values.image.monitor (include "cxops.tag" .) }}
{{- end }}

{{/* imagePullSecrets at the given indent, or nothing: (dict "ctx" $ "indent" 6). */}}
{{- define "cxops.imagePullSecrets" -}}
{{- with .ctx.Values.image.pullSecrets }}
{{- $list := list }}
{{- range . }}{{ $list = append $list (dict "name" .) }}{{ end }}
{{- dict "imagePullSecrets" $list | toYaml | nindent $.indent }}
{{- end }}
{{- end }}

{{/* URLs ------------------------------------------------------------------------------------------ */}}

{{- define "cxops.monitorUrl" -}}
{{- printf "http://%s.%s.svc.cluster.local:%d" (include "cxops.monitorName" .) .Release.Namespace (int .Values.monitor.port) }}
{{- end }}

{{- define "cxops.alertUrl" -}}
{{- .Values.monitor.alertUrl | default (printf "http://%s:%d/v1/monitoring/alerts" (include "cxops.apiName" .) (int .Values.api.port)) }}
{{- end }}

{{/* Security ---------------------------------------------------------------------------------------
Pods run as a fixed non-root user with the runtime's default seccomp profile; containers drop every
capability and write only to the emptyDir and persistent volumes they mount. */}}

{{- define "cxops.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "cxops.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The platform settings every platform pod and predictor loads. */}}
{{- define "cxops.platformEnvFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "cxops.platformConfigName" . }}
  - secretRef:
      name: {{ .Values.platform.existingSecret }}
{{- end }}

{{/* HOME and USER for images whose passwd file has no entry for the pod's user: Python's
getpass.getuser() (read by the platform's settings) and library caches need them. */}}
{{- define "cxops.processEnv" -}}
- name: HOME
  value: /tmp
- name: USER
  value: cxops
{{- end }}

{{/* Checkov skip annotations shared by the workloads: images are referenced by immutable version tags. */}}
{{- define "cxops.skipDigest" -}}
CKV_K8S_43=Images are pinned by tag; each platform release publishes one immutable tag per version.
{{- end }}

{{- define "cxops.skipPullPolicy" -}}
CKV_K8S_15=Tags are immutable per version, so IfNotPresent cannot run a stale image (image.pullPolicy can say Always).
{{- end }}

{{/* The serving container of a predictor (KServe's `kserve-container`): (dict "ctx" $ "image" ...
"resources" ... "port" ...). BentoML serves on BENTOML_PORT (Knative also sets PORT to the same value). */}}
{{- define "cxops.predictorContainer" -}}
- name: kserve-container
  image: {{ .image | quote }}
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  ports:
    - name: http1
      containerPort: {{ .port }}
      protocol: TCP
  {{- include "cxops.platformEnvFrom" .ctx | nindent 2 }}
  env:
    - name: BENTOML_PORT
      value: {{ .port | quote }}
    {{- include "cxops.processEnv" .ctx | nindent 4 }}
  readinessProbe:
    httpGet: {path: /readyz, port: {{ .port }}}
    periodSeconds: 10
    timeoutSeconds: 3
    failureThreshold: 3
  livenessProbe:
    httpGet: {path: /livez, port: {{ .port }}}
    initialDelaySeconds: 30
    periodSeconds: 15
    timeoutSeconds: 5
    failureThreshold: 4
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- include "cxops.containerSecurityContext" 10001 | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}

{{/* An egress rule to a database or Redis: (dict "host" ... "port" ...). NetworkPolicy matches addresses,
not names: an IP address or CIDR becomes an ipBlock; a host name (or none) allows the port alone. */}}
{{- define "cxops.egressToHost" -}}
{{- $host := .host | default "" }}
{{- $cidr := "" }}
{{- if regexMatch "^([0-9]{1,3}\\.){3}[0-9]{1,3}(/[0-9]{1,2})?$" $host }}
{{- $cidr = ternary $host (printf "%s/32" $host) (contains "/" $host) }}
{{- else if contains ":" $host }}
{{- $cidr = ternary $host (printf "%s/128" $host) (contains "/" $host) }}
{{- end }}
- ports:
    - {port: {{ .port }}, protocol: TCP}
  {{- if $cidr }}
  to:
    - ipBlock:
        cidr: {{ $cidr }}
  {{- end }}
{{- end }}
