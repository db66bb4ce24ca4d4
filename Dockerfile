# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run with production ones only, as a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY conformance ./conformance
COPY fhir-profiles ./fhir-profiles
COPY test ./test
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/var/lib/carnet
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY fhir-profiles ./fhir-profiles
RUN groupadd --system carnet && useradd --system --gid carnet --home-dir /app carnet \
    && mkdir -p /var/lib/carnet && chown carnet:carnet /var/lib/carnet
USER carnet
VOLUME ["/var/lib/carnet"]
EXPOSE 8080
# Node's own fetch: no curl in the slim image.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/bundle/main.js"]
