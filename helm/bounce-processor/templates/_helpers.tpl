{{/*
Names, labels and the pod pieces shared by the qualification Deployment, the state
StatefulSet and the rule-sync CronJob.
*/}}

{{- define "bp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Leaves room for the longest suffix ("-state-headless", 15) within 63 characters. */}}
{{- define "bp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "bp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "bp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Marks the processor pods (not the rule-sync Job's) behind the HTTP Services. */}}
{{- define "bp.httpPodLabel" -}}
bounce-processor/http: "true"
{{- end }}

{{- define "bp.labels" -}}
helm.sh/chart: {{ include "bp.chart" . }}
{{ include "bp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bounce-processor
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "qualify") */}}
{{- define "bp.componentSelectorLabels" -}}
{{ include "bp.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "bp.componentLabels" -}}
{{ include "bp.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "bp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "bp.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{- define "bp.configMapName" -}}
{{- printf "%s-config" (include "bp.fullname" .) }}
{{- end }}

{{- define "bp.customRulesConfigMapName" -}}
{{- if .Values.customRules.existingConfigMap }}
{{- .Values.customRules.existingConfigMap }}
{{- else }}
{{- printf "%s-rules" (include "bp.fullname" .) }}
{{- end }}
{{- end }}

{{/* Where things live inside the container. */}}
{{- define "bp.configDir" -}}/etc/bounce-processor{{- end }}
{{- define "bp.customRulesDir" -}}/etc/bounce-processor/rules{{- end }}
{{- define "bp.kafkaTlsDir" -}}/etc/bounce-processor/kafka-tls{{- end }}
{{- define "bp.registryTlsDir" -}}/etc/bounce-processor/registry-tls{{- end }}

{{/*
The shutdown bound (config.shutdown.timeout_seconds, default 30 as in the processor) and
the pod's terminationGracePeriodSeconds, which must be above it: Kubernetes sends SIGKILL
when the grace period ends, and a processor killed inside its bound leaves an open
transaction to be fenced and replayed. An explicit value at or below the bound is refused.
*/}}
{{- define "bp.shutdownBound" -}}
{{- $shutdown := .Values.config.shutdown | default dict -}}
{{- $bound := 30.0 -}}
{{- if hasKey $shutdown "timeout_seconds" -}}{{- $bound = float64 $shutdown.timeout_seconds -}}{{- end -}}
{{- int (ceil $bound) -}}
{{- end }}

{{- define "bp.terminationGracePeriodSeconds" -}}
{{- $bound := int (include "bp.shutdownBound" .) -}}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) -}}
{{- $grace := int .Values.terminationGracePeriodSeconds -}}
{{- if le $grace $bound -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above the shutdown bound config.shutdown.timeout_seconds (%d): leave it unset to get bound + terminationGraceMarginSeconds" $grace $bound) -}}
{{- end -}}
{{- $grace -}}
{{- else -}}
{{- add $bound (int .Values.terminationGraceMarginSeconds) -}}
{{- end -}}
{{- end }}

{{/*
config.yaml for the processor: .Values.config as given, plus the keys the chart owns
(HTTP listener on the container port; the consumer groups of both stages, so that a pod
running `--stage all` has both; rules mode and folder when custom rules are mounted).
*/}}
{{- define "bp.configYaml" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $_ := set $cfg "http" (dict "enabled" true "host" "0.0.0.0" "port" (int .Values.containerPort)) -}}
{{- $_ := set $cfg "group_id" .Values.qualify.groupId -}}
{{- $state := deepCopy ($cfg.state | default dict) -}}
{{- $_ := set $state "group_id" .Values.state.groupId -}}
{{- $_ := set $cfg "state" $state -}}
{{- if .Values.customRules.enabled -}}
{{- $_ := set $cfg "rules" (dict "mode" "custom" "dir" (include "bp.customRulesDir" .)) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end }}

{{- define "bp.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "bp.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/*
Environment shared by every container: instance identity from the pod name (stable
transactional.id and, with static membership, group.instance.id), data folders, and
credentials from existing Secrets. Kafka / registry client settings pass through as
BOUNCE_KAFKA_CLIENT_<KEY> / BOUNCE_REGISTRY_CLIENT_<KEY> (dots written as underscores).
*/}}
{{- define "bp.env" -}}
- name: BOUNCE_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: BOUNCE_STATE_DIR
  value: {{ .Values.stateDir | quote }}
{{- with .Values.kafka.sasl }}
{{- if .existingSecret }}
- name: BOUNCE_KAFKA_CLIENT_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .usernameKey }}
- name: BOUNCE_KAFKA_CLIENT_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .passwordKey }}
{{- end }}
{{- end }}
{{- with .Values.kafka.tls }}
{{- if .existingSecret }}
- name: BOUNCE_KAFKA_CLIENT_SSL_CA_LOCATION
  value: {{ printf "%s/%s" (include "bp.kafkaTlsDir" $) .caKey | quote }}
{{- if and (or .certKey .keyKey) (not (and .certKey .keyKey)) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (mTLS client certificate and key)" }}
{{- end }}
{{- if .certKey }}
- name: BOUNCE_KAFKA_CLIENT_SSL_CERTIFICATE_LOCATION
  value: {{ printf "%s/%s" (include "bp.kafkaTlsDir" $) .certKey | quote }}
- name: BOUNCE_KAFKA_CLIENT_SSL_KEY_LOCATION
  value: {{ printf "%s/%s" (include "bp.kafkaTlsDir" $) .keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.registry.basicAuth }}
{{- if .existingSecret }}
- name: BOUNCE_REGISTRY_CLIENT_BASIC_AUTH_USER_INFO
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .userInfoKey }}
{{- end }}
{{- end }}
{{- with .Values.registry.tls }}
{{- if .existingSecret }}
- name: BOUNCE_REGISTRY_CLIENT_SSL_CA_LOCATION
  value: {{ printf "%s/%s" (include "bp.registryTlsDir" $) .caKey | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Mounts shared by every container (the state folder is added per workload). */}}
{{- define "bp.volumeMounts" -}}
- name: config
  mountPath: {{ include "bp.configDir" . }}/config.yaml
  subPath: config.yaml
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.customRules.enabled }}
- name: custom-rules
  mountPath: {{ include "bp.customRulesDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: {{ include "bp.kafkaTlsDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.registry.tls.existingSecret }}
- name: registry-tls
  mountPath: {{ include "bp.registryTlsDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Custom rules: ConfigMap keys cannot hold "/", so a nested rule file such as
"bounce/gmail.yaml" is stored under the key "bounce__gmail.yaml" and put back in its
folder by the volume's items.
*/}}
{{- define "bp.ruleKey" -}}
{{- replace "/" "__" . -}}
{{- end }}

{{- define "bp.volumes" -}}
- name: config
  configMap:
    name: {{ include "bp.configMapName" . }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.customRules.enabled }}
- name: custom-rules
  configMap:
    name: {{ include "bp.customRulesConfigMapName" . }}
    {{- if not .Values.customRules.existingConfigMap }}
    items:
      {{- range $path, $_ := .Values.customRules.files }}
      - key: {{ include "bp.ruleKey" $path }}
        path: {{ $path }}
      {{- end }}
    {{- else if .Values.customRules.items }}
    items:
      {{- toYaml .Values.customRules.items | nindent 6 }}
    {{- end }}
{{- end }}
{{- with .Values.kafka.tls }}
{{- if .existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- with .Values.registry.tls }}
{{- if .existingSecret }}
- name: registry-tls
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Checksums that roll the pods when their configuration changes. */}}
{{- define "bp.checksums" -}}
checksum/config: {{ include "bp.configYaml" . | sha256sum }}
{{- if and .Values.customRules.enabled (not .Values.customRules.existingConfigMap) }}
checksum/rules: {{ toYaml .Values.customRules.files | sha256sum }}
{{- end }}
{{- end }}

{{- define "bp.probes" -}}
{{- $p := .Values.probes -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end }}

{{/* Autoscaling of the qualification stage: HPA and KEDA both own .spec.replicas. */}}
{{- define "bp.autoscaled" -}}
{{- $a := .Values.qualify.autoscaling -}}
{{- if and $a.hpa.enabled $a.keda.enabled -}}
{{- fail "qualify.autoscaling.hpa.enabled and qualify.autoscaling.keda.enabled are mutually exclusive: KEDA creates and owns its own HPA for the Deployment; enable one of them" -}}
{{- end -}}
{{- if or $a.hpa.enabled $a.keda.enabled -}}true{{- end -}}
{{- end }}

{{/*
The pod template of a processor stage: (dict "ctx" $ "component" "qualify" "stage" .Values.qualify "pvc" false)
*/}}
{{- define "bp.processorPodTemplate" -}}
{{- $ := .ctx -}}
{{- $stage := .stage -}}
{{- $component := .component -}}
metadata:
  labels:
    {{- include "bp.componentLabels" (dict "ctx" $ "component" .component) | nindent 4 }}
    {{- include "bp.httpPodLabel" $ | nindent 4 }}
    {{- with $.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- include "bp.checksums" $ | nindent 4 }}
    {{- with $.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $stage.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "bp.serviceAccountName" $ }}
  automountServiceAccountToken: false
  {{- with $.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $.Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ include "bp.terminationGracePeriodSeconds" $ }}
  securityContext:
    {{- include "bp.podSecurityContext" $ | nindent 4 }}
  containers:
    - name: processor
      image: {{ include "bp.image" $ | quote }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      args:
        - run
        - --config
        - {{ include "bp.configDir" $ }}/config.yaml
        - --stage
        - {{ $stage.stage }}
      ports:
        - name: http
          containerPort: {{ $.Values.containerPort }}
          protocol: TCP
      env:
        {{- include "bp.env" $ | nindent 8 }}
        - name: BOUNCE_STATIC_MEMBERSHIP
          value: {{ $stage.staticMembership | quote }}
        {{- with $stage.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $.Values.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- include "bp.probes" $ | nindent 6 }}
      resources:
        {{- toYaml $stage.resources | nindent 8 }}
      securityContext:
        {{- include "bp.containerSecurityContext" $ | nindent 8 }}
      volumeMounts:
        {{- include "bp.volumeMounts" $ | nindent 8 }}
        - name: state
          mountPath: {{ $.Values.stateDir }}
  volumes:
    {{- include "bp.volumes" $ | nindent 4 }}
    {{- if not .pvc }}
    - name: state
      emptyDir:
        {{- with $stage.stateSizeLimit }}
        sizeLimit: {{ . }}
        {{- end }}
    {{- end }}
  {{- with $stage.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $stage.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $stage.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $stage.topologySpreadConstraints }}
  {{- /* A constraint without a labelSelector spreads this stage's own pods. */}}
  {{- $selector := include "bp.componentSelectorLabels" (dict "ctx" $ "component" $component) | fromYaml }}
  {{- $constraints := list }}
  {{- range . }}
  {{- $c := deepCopy . }}
  {{- if not (hasKey $c "labelSelector") }}
  {{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
  {{- end }}
  {{- $constraints = append $constraints $c }}
  {{- end }}
  topologySpreadConstraints:
    {{- toYaml $constraints | nindent 4 }}
  {{- end }}
{{- end }}
