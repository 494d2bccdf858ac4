# One image for every role: `mistbridge run --roles ...`.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/var/lib/mistbridge \
    PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY schemas ./schemas
RUN mkdir -p /var/lib/mistbridge && chown node:node /var/lib/mistbridge
USER node
EXPOSE 8080 9090
VOLUME ["/var/lib/mistbridge"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# A smaller young generation keeps RSS down at a negligible GC cost (see bench/RESULTS.md).
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/cli.js"]
CMD ["run"]
