{{- define "mistbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The usual full name: the release name alone when it already holds the chart's name. */}}
{{- define "mistbridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mistbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mistbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mistbridge.labels" -}}
{{ include "mistbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mistbridge.secretName" -}}
{{- default (include "mistbridge.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "mistbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mistbridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* No default repository: a chart that pulled an image nobody pushed would only crash-loop. */}}
{{- define "mistbridge.image" -}}
{{- $repository := required "image.repository is required: build and push the mistbridge image (README, \"Build and push the image\") and set image.repository" .Values.image.repository -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Splunk sink runs only when it has somewhere to deliver; the Mist API companion when it is enabled. */}}
{{- define "mistbridge.roleOn" -}}
{{- if and .spec.enabled (or (ne .role "splunk") .root.Values.splunk.url) (or (ne .role "mistapi") .root.Values.mistApi.enabled) (or (ne .role "notify") .root.Values.notify.enabled) }}true{{ end -}}
{{- end -}}

{{/*
Kafka connection variables, shared by the roles and the topics Job. Every number goes through
int64: Helm reads YAML numbers as float64, and `quote` would print 5242880 as "5.24288e+06".
Called with (dict "root" $ "secret" <name of the Secret holding kafka-sasl-password>).
*/}}
{{- define "mistbridge.kafkaEnv" -}}
{{- $v := .root.Values -}}
- name: KAFKA_BROKERS
  value: {{ $v.kafka.brokers | quote }}
- name: KAFKA_TOPIC_PREFIX
  value: {{ $v.kafka.topicPrefix | quote }}
- name: KAFKA_IDEMPOTENT
  value: {{ $v.kafka.idempotent | quote }}
- name: KAFKA_OCSF
  value: {{ $v.kafka.ocsf | default false | quote }}
{{- if $v.kafka.ssl.enabled }}
- name: KAFKA_SSL
  value: "true"
- name: KAFKA_SSL_REJECT_UNAUTHORIZED
  value: {{ $v.kafka.ssl.rejectUnauthorized | quote }}
{{- if $v.kafka.ssl.caSecret }}
- name: KAFKA_SSL_CA_FILE
  value: /etc/mistbridge/kafka-ca/ca.crt
{{- end }}
{{- end }}
{{- if $v.kafka.sasl.mechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ $v.kafka.sasl.username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ .secret | quote }}, key: kafka-sasl-password }
{{- end }}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
{{- end -}}

{{/* Scheduling and pull settings shared by the Deployments and the topics Job. */}}
{{- define "mistbridge.podCommon" -}}
serviceAccountName: {{ include "mistbridge.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
