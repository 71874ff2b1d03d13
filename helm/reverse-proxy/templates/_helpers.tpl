{{- define "reverse-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "reverse-proxy.fullname" -}}
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

{{- define "reverse-proxy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "reverse-proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "reverse-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "reverse-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "reverse-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "reverse-proxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The guarded rollout's Lease and last good ConfigMap (API mode with the guard on). */}}
{{- define "reverse-proxy.rolloutLeaseName" -}}
{{- printf "%s-rollout" (include "reverse-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "reverse-proxy.lastGoodName" -}}
{{- printf "%s-last-good" (include "reverse-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "reverse-proxy.coordinatedRollout" -}}
{{- and (eq .Values.sidecar.mode "api") .Values.sidecar.guard.enabled -}}
{{- end }}

{{- define "reverse-proxy.metricsServiceName" -}}
{{- printf "%s-metrics" (include "reverse-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ConfigMap the sidecar watches: the operator's own (config.existingConfigMap), or the chart's. */}}
{{- define "reverse-proxy.configMapName" -}}
{{- if .Values.config.existingConfigMap }}
{{- .Values.config.existingConfigMap }}
{{- else }}
{{- printf "%s-config" (include "reverse-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
With config.existingConfigMap the chart renders no config, so config keys set beside it would
be dropped without a word: refuse them instead.
*/}}
{{- define "reverse-proxy.checkConfigOwner" -}}
{{- if .Values.config.existingConfigMap }}
{{- range $key, $value := omit .Values.config "existingConfigMap" }}
{{- if $value }}
{{- fail (printf "config.%s is set, but config.existingConfigMap (%s) replaces the chart's ConfigMap: put it in that ConfigMap's proxy.yaml instead" $key $.Values.config.existingConfigMap) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The kubelet kills a proxy still draining when the grace period ends. */}}
{{- define "reverse-proxy.checkDrain" -}}
{{- if ge (add .Values.proxy.drainDelaySeconds .Values.proxy.gracePeriodSeconds) (int .Values.terminationGracePeriodSeconds) }}
{{- fail "proxy.drainDelaySeconds + proxy.gracePeriodSeconds must be below terminationGracePeriodSeconds, or the kubelet kills the proxy mid-drain" }}
{{- end }}
{{- end }}

{{- define "reverse-proxy.image" -}}
{{- with .Values.image }}
{{- if and .digest (not .tag) }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository (default $.Chart.AppVersion .tag) }}{{ with .digest }}@{{ . }}{{ end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Native sidecars (initContainers with restartPolicy: Always) are on by default from 1.29. */}}
{{- define "reverse-proxy.nativeSidecar" -}}
{{- if eq .Values.sidecar.placement "native" }}true
{{- else if eq .Values.sidecar.placement "container" }}false
{{- else if semverCompare ">=1.29.0-0" .Capabilities.KubeVersion.Version }}true
{{- else }}false
{{- end }}
{{- end }}

{{/*
The emptyDir is created by the kubelet 0777 (root-owned, or fsGroup-owned and setgid), and a
non-root container cannot chmod it. So the socket and the delivered config live one level
down, in a directory the proxy and the sidecar create 0700 for their own uid and refuse to use
when it is anything else.
*/}}
{{- define "reverse-proxy.runDir" -}}/run/reverse-proxy/private{{- end }}
{{- define "reverse-proxy.socketPath" -}}/run/reverse-proxy/private/admin.sock{{- end }}
{{- define "reverse-proxy.configPath" -}}/run/reverse-proxy/private/proxy.yaml{{- end }}
{{/* In the socket's 0700 directory: written by the sidecar, read by the proxy, same uid. */}}
{{- define "reverse-proxy.endpointsPath" -}}/run/reverse-proxy/private/endpoints.json{{- end }}

{{/*
"true" when the sidecar watches EndpointSlices: sidecar.endpointSlices true, or auto and the
chart's config names a `service:` upstream. Needs the API (sidecar.mode api).
*/}}
{{- define "reverse-proxy.endpointSlices" -}}
{{- $wanted := false }}
{{- if eq (toString .Values.sidecar.endpointSlices) "true" }}
{{- $wanted = true }}
{{- else if eq (toString .Values.sidecar.endpointSlices) "auto" }}
{{- range .Values.config.sites }}
{{- range (.routes | default list) }}
{{- range (.upstreams | default list) }}
{{- if .service }}{{ $wanted = true }}{{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $wanted (ne .Values.sidecar.mode "api") }}
{{- fail "service: upstreams need sidecar.mode api (the sidecar watches EndpointSlices through the API); set sidecar.endpointSlices false and write the endpoints file yourself otherwise" }}
{{- end }}
{{- $wanted -}}
{{- end }}
{{/*
The mounted TLS Secrets as JSON {"list": [{volume, secret, dir}]}, in the order the proxy's
tls.certificates lists them (the first serves clients without SNI or without a match).
tls.secretName keeps its v1 path, the TLS dir itself; each of tls.secrets gets its own
directory under it. The two cannot mix: a Secret volume is read-only, so nothing can be mounted
inside the one at the TLS dir.
*/}}
{{- define "reverse-proxy.tlsSecrets" -}}
{{- $tls := .Values.tls -}}
{{- $dir := "/etc/reverse-proxy/tls" -}}
{{- $out := list -}}
{{- if $tls.enabled -}}
{{- if and $tls.secretName $tls.secrets -}}
{{- fail "set tls.secretName (one Secret) or tls.secrets (several), not both" -}}
{{- end -}}
{{- with $tls.secretName -}}
{{- $out = append $out (dict "volume" "tls" "secret" . "dir" $dir) -}}
{{- end -}}
{{- range $i, $name := $tls.secrets -}}
{{- $out = append $out (dict "volume" (printf "tls-%d" $i) "secret" $name "dir" (printf "%s/%s" $dir $name)) -}}
{{- end -}}
{{- if not $out -}}
{{- fail "tls.enabled needs tls.secretName (one Secret) or tls.secrets (several, one per certificate)" -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "list" $out) -}}
{{- end }}

{{/* The TLS Secrets' mounts, the same paths in every container that reads the certificates. */}}
{{- define "reverse-proxy.tlsMounts" -}}
{{- range (include "reverse-proxy.tlsSecrets" . | fromJson).list }}
- name: {{ .volume }}
  mountPath: {{ .dir }}
  readOnly: true
{{- end }}
{{- end }}

{{/* The htpasswd Secret's mount (auth.htpasswdSecret), in every container that validates or serves. */}}
{{- define "reverse-proxy.authMounts" -}}
{{- if .Values.auth.htpasswdSecret }}
- name: auth
  mountPath: /etc/reverse-proxy/auth
  readOnly: true
{{- end }}
{{- end }}

{{/* The error pages' mount (errorPages.configMap), in every container that validates or serves. */}}
{{- define "reverse-proxy.errorPagesMounts" -}}
{{- if .Values.errorPages.configMap }}
- name: error-pages
  mountPath: /etc/reverse-proxy/error-pages
  readOnly: true
{{- end }}
{{- end }}

{{/* A probe: the chart's endpoint (list PATH PORT TIMINGS), the operator's timings. */}}
{{- define "reverse-proxy.probe" -}}
httpGet: { path: {{ index . 0 }}, port: {{ index . 1 }} }
{{- with index . 2 }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "reverse-proxy.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "reverse-proxy.commonEnv" -}}
- name: REVERSE_PROXY_ADMIN_SOCKET
  value: {{ include "reverse-proxy.socketPath" . }}
{{- if .Values.adminToken.existingSecret }}
- name: ADMIN_SOCKET_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.adminToken.existingSecret }}
      key: {{ .Values.adminToken.key }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Worker processes of the proxy container: proxy.workers when set, else the container's CPU
limit, else its CPU request, rounded up (100m -> 1, 1500m -> 2), at least 1. Never "auto":
without a CPU limit, auto would count the node's cores, and a pod on a 64-core node would
start 64 workers inside a memory limit sized for a few.
*/}}
{{- define "reverse-proxy.workers" -}}
{{- $explicit := .Values.proxy.workers -}}
{{- if $explicit -}}
{{- $explicit -}}
{{- else -}}
{{- $res := .Values.proxy.resources | default dict -}}
{{- $cpu := dig "limits" "cpu" "" $res | toString -}}
{{- if not $cpu -}}{{- $cpu = dig "requests" "cpu" "" $res | toString -}}{{- end -}}
{{- if not $cpu -}}
1
{{- else if hasSuffix "m" $cpu -}}
{{- max 1 (div (add (trimSuffix "m" $cpu | atoi) 999) 1000) -}}
{{- else -}}
{{- max 1 (ceil (float64 $cpu) | int) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* A memory quantity (256Mi, 1Gi, 512M, 300000000) in MiB, rounded down. */}}
{{- define "reverse-proxy.memoryMiB" -}}
{{- $q := toString . -}}
{{- if hasSuffix "Gi" $q -}}{{- mulf (trimSuffix "Gi" $q | float64) 1024 | int -}}
{{- else if hasSuffix "Mi" $q -}}{{- trimSuffix "Mi" $q | float64 | int -}}
{{- else if hasSuffix "Ki" $q -}}{{- divf (trimSuffix "Ki" $q | float64) 1024 | int -}}
{{- else if hasSuffix "G" $q -}}{{- divf (mulf (trimSuffix "G" $q | float64) 1000000000) 1048576 | int -}}
{{- else if hasSuffix "M" $q -}}{{- divf (mulf (trimSuffix "M" $q | float64) 1000000) 1048576 | int -}}
{{- else if hasSuffix "k" $q -}}{{- divf (mulf (trimSuffix "k" $q | float64) 1000) 1048576 | int -}}
{{- else -}}{{- divf ($q | float64) 1048576 | int -}}
{{- end -}}
{{- end }}

{{/*
Refuses to render several workers into a memory limit they cannot fit (an OOM-kill loop
instead of a proxy): the primary and each worker need about 96 MiB under load
(docs/performance.md, "Every core: workers").
*/}}
{{- define "reverse-proxy.checkWorkerMemory" -}}
{{- $workers := include "reverse-proxy.workers" . | int -}}
{{- $limit := dig "limits" "memory" "" (.Values.proxy.resources | default dict) -}}
{{- if and (gt $workers 1) $limit -}}
{{- $have := include "reverse-proxy.memoryMiB" $limit | int -}}
{{- $need := mul 96 (add1 $workers) -}}
{{- if lt $have $need -}}
{{- fail (printf "proxy.resources.limits.memory (%s) is below what %d workers need: about %dMi (96Mi for the primary and for each worker). Raise the limit, or set proxy.workers lower." (toString $limit) $workers $need) -}}
{{- end -}}
{{- end -}}
{{- end }}
