{{- define "mistbridge.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mistbridge.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mistbridge.secretName" -}}
{{- default (include "mistbridge.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "mistbridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Environment shared by every role; each name is a mistbridge configuration variable. */}}
{{- define "mistbridge.env" -}}
- name: KAFKA_BROKERS
  value: {{ .Values.kafka.brokers | quote }}
- name: KAFKA_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: KAFKA_IDEMPOTENT
  value: {{ .Values.kafka.idempotent | quote }}
- name: KAFKA_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: KAFKA_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
- name: KAFKA_RAW_RETENTION_MS
  value: {{ .Values.kafka.rawRetentionMs | int64 | quote }}
{{- if .Values.kafka.ssl.enabled }}
- name: KAFKA_SSL
  value: "true"
- name: KAFKA_SSL_REJECT_UNAUTHORIZED
  value: {{ .Values.kafka.ssl.rejectUnauthorized | quote }}
{{- if .Values.kafka.ssl.caSecret }}
- name: KAFKA_SSL_CA_FILE
  value: /etc/mistbridge/kafka-ca/ca.crt
{{- end }}
{{- end }}
{{- if .Values.kafka.sasl.mechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ .Values.kafka.sasl.username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ include "mistbridge.secretName" . }}, key: kafka-sasl-password }
{{- end }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: DRAIN_TIMEOUT_MS
  value: {{ .Values.drainTimeoutMs | quote }}
- name: PORT
  value: "8080"
- name: ADMIN_PORT
  value: "9090"
- name: DATA_DIR
  value: /var/lib/mistbridge
{{- if .Values.config }}
- name: MISTBRIDGE_CONFIG
  value: /etc/mistbridge/config/mistbridge.yaml
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
