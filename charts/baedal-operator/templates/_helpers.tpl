{{- define "baedal-operator.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "baedal-operator.labels" -}}
app.kubernetes.io/name: baedal-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "baedal-operator.selector" -}}
app.kubernetes.io/name: baedal-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
