{{/* Names as `helm create` makes them: the release name alone when it contains the chart's. */}}
{{- define "leakhound.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "leakhound.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* What the DaemonSet selects its pods by and the Service and ServiceMonitor select by. */}}
{{- define "leakhound.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leakhound.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "leakhound.labels" -}}
{{ include "leakhound.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/*
--memory-budget: daemon.memoryBudget when set, else daemon.memoryBudgetPercent of
resources.limits.memory in whole MiB (the daemon sheds work to stay under it,
so its own limit never OOM-kills it), else nothing (the daemon's default).
A limit is a Kubernetes quantity: plain bytes, or Ki Mi Gi Ti, or k M G T.
*/}}
{{- define "leakhound.memoryBudget" -}}
{{- $d := .Values.daemon }}
{{- $limit := "" }}
{{- with .Values.resources }}{{ with .limits }}{{ $limit = toString (.memory | default "") }}{{ end }}{{ end }}
{{- if ne (toString ($d.memoryBudget | default "")) "" }}
{{- $d.memoryBudget }}
{{- else if ne $limit "" }}
{{- $m := regexFind "^[0-9]+" $limit }}
{{- $unit := trimPrefix $m $limit }}
{{- $mult := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- if or (eq $m "") (not (hasKey $mult $unit)) }}
{{- fail (printf "resources.limits.memory %q: write it as e.g. 240Mi or 1Gi (or set daemon.memoryBudget)" $limit) }}
{{- end }}
{{- $bytes := mul (atoi $m) (index $mult $unit) }}
{{- printf "%dMi" (div (div (mul $bytes (int $d.memoryBudgetPercent)) 100) 1048576) }}
{{- end }}
{{- end }}
