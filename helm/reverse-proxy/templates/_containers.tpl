{{- define "reverse-proxy.sidecarContainer" -}}
- name: admin
  image: {{ include "reverse-proxy.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if eq (include "reverse-proxy.nativeSidecar" .) "true" }}
  restartPolicy: Always
  {{- end }}
  args:
    - sidecar
    - --socket={{ include "reverse-proxy.socketPath" . }}
    - --config-out={{ include "reverse-proxy.configPath" . }}
    {{- if eq .Values.sidecar.mode "api" }}
    - --configmap={{ include "reverse-proxy.configMapName" . }}
    {{- else }}
    - --watch-dir=/etc/reverse-proxy/configmap
    {{- end }}
    - --key=proxy.yaml
    - --health-address=0.0.0.0:9901
    - --debounce-ms={{ .Values.sidecar.debounceMs }}
    {{- if eq (include "reverse-proxy.endpointSlices" .) "true" }}
    # The EndpointSlices of the Services the config names go to this file, then `endpoints`.
    - --endpoints-file={{ include "reverse-proxy.endpointsPath" . }}
    {{- end }}
    # Validate exactly as the proxy does: its listeners bind every interface.
    - --allow-wildcard-bind
    {{- range $i, $secret := (include "reverse-proxy.tlsSecrets" . | fromJson).list }}
    {{- if eq $i 0 }}
    # A renewed Secret (kubelet ..data swap) is validated with the config, then reloaded.
    {{- end }}
    - --tls-dir={{ $secret.dir }}
    {{- end }}
    {{- if .Values.auth.htpasswdSecret }}
    # The htpasswd Secret, watched the same way: an edit is validated with the config, then
    # reloaded (the sidecar's messages for this watch speak of TLS files).
    - --tls-dir=/etc/reverse-proxy/auth
    {{- end }}
    {{- if .Values.errorPages.configMap }}
    # The error pages, watched the same way: an edit is validated with the config, then reloaded.
    - --tls-dir=/etc/reverse-proxy/error-pages
    {{- end }}
    {{- with .Values.sidecar.guard }}
    {{- if .enabled }}
    - --guard=on
    - --bake-ms={{ mul .bakeSeconds 1000 }}
    - --baseline-ms={{ mul .baselineSeconds 1000 }}
    - --sample-ms={{ mul .sampleSeconds 1000 }}
    - --min-requests={{ .minRequests }}
    - --error-ratio-increase={{ .errorRatioIncrease }}
    - --error-ratio-factor={{ .errorRatioFactor }}
    - --p99-increase-ms={{ .p99IncreaseMs }}
    - --p99-factor={{ .p99Factor }}
    # The proxy's own figures, from its health listener on the pod's loopback.
    - --proxy-metrics=http://127.0.0.1:9900/metrics
    {{- else }}
    - --guard=off
    {{- end }}
    {{- end }}
    {{- if eq (include "reverse-proxy.coordinatedRollout" .) "true" }}
    # One pod bakes each revision (this Lease elects it); the last promoted config is kept here.
    - --rollout-lease={{ include "reverse-proxy.rolloutLeaseName" . }}
    - --last-good-configmap={{ include "reverse-proxy.lastGoodName" . }}
    - --lease-duration-s={{ .Values.sidecar.guard.leaseDurationSeconds }}
    {{- end }}
  env:
    {{- include "reverse-proxy.commonEnv" . | nindent 4 }}
    - name: LOG_LEVEL
      value: {{ .Values.sidecar.logLevel }}
    # The identity the rollout Lease and the Events name.
    - name: POD_NAME
      valueFrom:
        fieldRef: { fieldPath: metadata.name }
  ports:
    - name: sidecar-health
      containerPort: 9901
  # Ready once the current ConfigMap is validated and written: with a native sidecar the
  # kubelet starts the proxy only after this, so the proxy always finds its config.
  {{- with .Values.sidecar.probes }}
  startupProbe:
    {{- include "reverse-proxy.probe" (list "/readyz" "sidecar-health" .startup) | nindent 4 }}
  livenessProbe:
    {{- include "reverse-proxy.probe" (list "/livez" "sidecar-health" .liveness) | nindent 4 }}
  readinessProbe:
    {{- include "reverse-proxy.probe" (list "/readyz" "sidecar-health" .readiness) | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "reverse-proxy.containerSecurityContext" . | nindent 4 }}
  resources:
    {{- toYaml .Values.sidecar.resources | nindent 4 }}
  volumeMounts:
    - name: run
      mountPath: /run/reverse-proxy
    {{- if eq .Values.sidecar.mode "volume" }}
    - name: configmap
      mountPath: /etc/reverse-proxy/configmap
      readOnly: true
    {{- end }}
    {{- include "reverse-proxy.tlsMounts" . | replace "\n" "\n    " }}
    {{- include "reverse-proxy.authMounts" . | replace "\n" "\n    " }}
    {{- include "reverse-proxy.errorPagesMounts" . | replace "\n" "\n    " }}
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    - name: tmp
      mountPath: /tmp
{{- end }}

{{- define "reverse-proxy.proxyContainer" -}}
- name: proxy
  image: {{ include "reverse-proxy.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  # The kubelet probes the pod IP, so the listeners bind every interface: that is what
  # --allow-wildcard-bind is for.
  args:
    - serve
    - -c
    - {{ include "reverse-proxy.configPath" . }}
    - --allow-wildcard-bind
    - --workers={{ include "reverse-proxy.workers" . }}
    {{- if eq (include "reverse-proxy.endpointSlices" .) "true" }}
    - --endpoints-file={{ include "reverse-proxy.endpointsPath" . }}
    {{- end }}
  env:
    {{- include "reverse-proxy.commonEnv" . | nindent 4 }}
  ports:
    - name: http
      containerPort: 8080
    {{- if .Values.tls.enabled }}
    - name: https
      containerPort: {{ .Values.tls.port }}
    {{- end }}
    - name: health
      containerPort: 9900
  {{- with .Values.proxy.probes }}
  startupProbe:
    {{- include "reverse-proxy.probe" (list "/livez" "health" .startup) | nindent 4 }}
  livenessProbe:
    {{- include "reverse-proxy.probe" (list "/livez" "health" .liveness) | nindent 4 }}
  readinessProbe:
    {{- include "reverse-proxy.probe" (list "/readyz" "health" .readiness) | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "reverse-proxy.containerSecurityContext" . | nindent 4 }}
  resources:
    {{- toYaml .Values.proxy.resources | nindent 4 }}
  volumeMounts:
    - name: run
      mountPath: /run/reverse-proxy
    {{- include "reverse-proxy.tlsMounts" . | replace "\n" "\n    " }}
    {{- include "reverse-proxy.authMounts" . | replace "\n" "\n    " }}
    {{- include "reverse-proxy.errorPagesMounts" . | replace "\n" "\n    " }}
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    - name: tmp
      mountPath: /tmp
{{- end }}

{{/* Before native sidecars, nothing orders the containers: seed the config with an init container. */}}
{{- define "reverse-proxy.seedContainer" -}}
- name: seed-config
  image: {{ include "reverse-proxy.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: [sh, -c]
  args:
    - >-
      reverse-proxy validate -c /etc/reverse-proxy/configmap/proxy.yaml --allow-wildcard-bind
      {{- if eq (include "reverse-proxy.endpointSlices" .) "true" }} --endpoints-file {{ include "reverse-proxy.endpointsPath" . }}{{ end }} &&
      mkdir -p -m 0700 {{ include "reverse-proxy.runDir" . }} &&
      cp /etc/reverse-proxy/configmap/proxy.yaml {{ include "reverse-proxy.configPath" . }}.tmp &&
      chmod 0600 {{ include "reverse-proxy.configPath" . }}.tmp &&
      mv {{ include "reverse-proxy.configPath" . }}.tmp {{ include "reverse-proxy.configPath" . }}
  securityContext:
    {{- include "reverse-proxy.containerSecurityContext" . | nindent 4 }}
  resources:
    {{- toYaml .Values.sidecar.resources | nindent 4 }}
  volumeMounts:
    - name: run
      mountPath: /run/reverse-proxy
    - name: configmap
      mountPath: /etc/reverse-proxy/configmap
      readOnly: true
    {{- include "reverse-proxy.tlsMounts" . | replace "\n" "\n    " }}
    {{- include "reverse-proxy.authMounts" . | replace "\n" "\n    " }}
    {{- include "reverse-proxy.errorPagesMounts" . | replace "\n" "\n    " }}
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
