# reverse-proxy: one image for every role (serve, sidecar, ctl, validate).
# No "# syntax=" line: it would pull a frontend from a registry. Builds with the legacy
# builder and with BuildKit. NODE_IMAGE is an argument so offline CI can pre-load a local
# image under the official name; users get the official one.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the node@24 devDependency would download a second Node; the image has one.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts && chmod 0755 dist/cli.js

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="reverse-proxy" \
      org.opencontainers.image.description="Reverse proxy for containers with live-reloaded routes and an owner-only admin socket" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# The uid/gid the chart and compose run as. A passwd entry keeps tools that look one up happy;
# the code itself never needs it (no os.userInfo()).
RUN groupadd --gid 10001 reverse-proxy \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin reverse-proxy \
 && install -d -m 0700 -o 10001 -g 10001 /run/reverse-proxy \
 && install -d -m 0755 /etc/reverse-proxy
# The admin socket's directory is a volume, so a plain `docker run --read-only` can create the
# socket: Docker fills a new volume with the image's directory, its owner and mode included
# (10001:10001, 0700, as the proxy requires). A --tmpfs, -v or Kubernetes emptyDir at this path
# replaces it. Declared after the RUN that makes the directory: a build step after VOLUME
# could not change what a new volume starts with.
VOLUME ["/run/reverse-proxy"]
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY deploy/image/proxy.yaml /etc/reverse-proxy/proxy.yaml
RUN ln -s /app/dist/cli.js /usr/local/bin/reverse-proxy
USER 10001:10001
EXPOSE 8080 9900
# exec form: node is PID 1 and gets SIGTERM itself; serve drains on it.
ENTRYPOINT ["reverse-proxy"]
CMD ["serve", "-c", "/etc/reverse-proxy/proxy.yaml", "--allow-wildcard-bind"]
