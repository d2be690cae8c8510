{{/*
Names, labels and small computed values shared by every template.
*/}}

{{- define "tessera.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The resource name prefix: the release name, plus the chart name unless the release name already contains it.
Truncated to leave room for component suffixes within the 63-character DNS label limit.
*/}}
{{- define "tessera.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tessera.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component. Usage: include "tessera.selectorLabels" (dict "root" $ "component" "gateway") */}}
{{- define "tessera.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tessera.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Full labels of one component. Usage: include "tessera.labels" (dict "root" $ "component" "gateway") */}}
{{- define "tessera.labels" -}}
helm.sh/chart: {{ include "tessera.chart" .root }}
{{ include "tessera.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tessera
{{- end }}

{{/* Labels of one model's worker pods (selector labels). Usage: (dict "root" $ "model" $model) */}}
{{- define "tessera.workerSelectorLabels" -}}
{{ include "tessera.selectorLabels" (dict "root" .root "component" "worker") }}
tessera.ai/model: {{ .model.name | quote }}
{{- end }}

{{- define "tessera.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tessera.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference. Usage: include "tessera.image" (dict "root" $ "override" $component.image "variant" "cpu")
An override may set repository, tag (used as is) and pullPolicy.
*/}}
{{- define "tessera.image" -}}
{{- $override := .override | default dict }}
{{- $repository := $override.repository | default .root.Values.image.repository }}
{{- $tag := $override.tag | default (printf "%s-%s" (.root.Values.image.tag | default .root.Chart.AppVersion) .variant) }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}

{{- define "tessera.imagePullPolicy" -}}
{{- $override := .override | default dict }}
{{- $override.pullPolicy | default .root.Values.image.pullPolicy }}
{{- end }}

{{- define "tessera.gatewayName" -}}
{{- printf "%s-gateway" (include "tessera.fullname" .) }}
{{- end }}

{{- define "tessera.routerName" -}}
{{- printf "%s-router" (include "tessera.fullname" .) }}
{{- end }}

{{/* The headless Service over every worker pod: the router resolves its DNS name to find workers. */}}
{{- define "tessera.workersHeadlessName" -}}
{{- printf "%s-workers" (include "tessera.fullname" .) }}
{{- end }}

{{/* StatefulSet name of one model. Usage: include "tessera.workerName" (dict "root" $ "model" $model) */}}
{{- define "tessera.workerName" -}}
{{- printf "%s-worker-%s" (include "tessera.fullname" .root) .model.name | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "tessera.configMapName" -}}
{{- printf "%s-config" (include "tessera.fullname" .) }}
{{- end }}

{{/* Name of the Secret holding the API keys, empty when the gateway runs without authentication. */}}
{{- define "tessera.apiKeySecretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if .Values.auth.apiKeys }}
{{- printf "%s-api-keys" (include "tessera.fullname" .) }}
{{- end }}
{{- end }}

{{/* host:port of the router's gRPC Service. */}}
{{- define "tessera.routerAddress" -}}
{{- printf "%s.%s.svc.%s:%d" (include "tessera.routerName" .) .Release.Namespace .Values.clusterDomain (int .Values.router.port) }}
{{- end }}

{{/* NAME:PORT the router resolves (every A/AAAA record is one ready worker). */}}
{{- define "tessera.workerDiscoveryDns" -}}
{{- printf "%s.%s.svc.%s:%d" (include "tessera.workersHeadlessName" .) .Release.Namespace .Values.clusterDomain (int .Values.worker.port) }}
{{- end }}

{{/* "true" when ServiceMonitor/PodMonitor objects are rendered. */}}
{{- define "tessera.monitorsEnabled" -}}
{{- $setting := toString .Values.metrics.serviceMonitor.enabled }}
{{- if eq $setting "true" }}true
{{- else if and (eq $setting "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}true
{{- end }}
{{- end }}

{{/* Pod annotations for Prometheus servers that discover targets by annotation. Usage: (dict "root" $ "port" N) */}}
{{- define "tessera.scrapeAnnotations" -}}
{{- if .root.Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* The volumes every container writes to, since the root filesystem is read-only. */}}
{{- define "tessera.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end }}
