# syntax=docker/dockerfile:1
#
# The claudemesh broker, with the CLI (admin verbs: `docker compose exec broker claudemesh …`) and
# the plugin host (`claudemesh plugin run`). Self-hosting guide: docs/self-hosting.md.
#
# Three stages: `build` compiles everything with the dev dependencies, `deps` installs the production
# dependencies alone, `runtime` takes those and the built output and nothing else (no compiler, no
# test tools, no sources). The layout under /app mirrors the repository, because the broker finds
# migrations/ and apps/web/dist relative to its own files, and the plugin host finds plugins/ the
# same way. apps/broker/test/self-hosting.spec.ts parses this file and runs its CMD, HEALTHCHECK
# and CLI launcher natively against Postgres, so they cannot drift from the code.

# Debian slim rather than Alpine: better-sqlite3 (the CLI's local store) has prebuilt glibc binaries.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: every dependency, then `npm run build` (tsc, the CLI bundle, the web app) ----
FROM ${NODE_IMAGE} AS build
# A fallback toolchain for native modules whose prebuilt binary cannot be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The manifests first: this layer (the slow install) is reused while only sources change.
COPY package.json package-lock.json ./
COPY libs/crypto/package.json libs/crypto/
COPY libs/core/package.json libs/core/
COPY libs/plugin/package.json libs/plugin/
COPY libs/gateway/package.json libs/gateway/
COPY apps/broker/package.json apps/broker/
COPY apps/cli/package.json apps/cli/
COPY apps/web/package.json apps/web/
COPY tools/bench/package.json tools/bench/
COPY tools/fuzz/package.json tools/fuzz/
COPY plugins/bridge/package.json plugins/bridge/
COPY plugins/gateway-telegram/package.json plugins/gateway-telegram/
COPY plugins/gateway-slack/package.json plugins/gateway-slack/
COPY plugins/gateway-whatsapp/package.json plugins/gateway-whatsapp/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- deps: production dependencies only, in a clean stage so no dev package leaks in ----
FROM ${NODE_IMAGE} AS deps
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
# Every workspace's manifest: npm ci checks the lockfile against all of them.
COPY --from=build /app/libs/crypto/package.json libs/crypto/
COPY --from=build /app/libs/core/package.json libs/core/
COPY --from=build /app/libs/plugin/package.json libs/plugin/
COPY --from=build /app/libs/gateway/package.json libs/gateway/
COPY --from=build /app/apps/broker/package.json apps/broker/
COPY --from=build /app/apps/cli/package.json apps/cli/
COPY --from=build /app/apps/web/package.json apps/web/
COPY --from=build /app/tools/bench/package.json tools/bench/
COPY --from=build /app/tools/fuzz/package.json tools/fuzz/
COPY --from=build /app/plugins/bridge/package.json plugins/bridge/
COPY --from=build /app/plugins/gateway-telegram/package.json plugins/gateway-telegram/
COPY --from=build /app/plugins/gateway-slack/package.json plugins/gateway-slack/
COPY --from=build /app/plugins/gateway-whatsapp/package.json plugins/gateway-whatsapp/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Production node_modules (the workspace links under node_modules/@claudemesh point into /app).
COPY --from=deps /app ./
# What runs: compiled libraries, the broker, its migrations, the web app, the CLI bundle and launcher,
# the plugin host and the plugins. The CLI launcher runs dist-bundle when apps/cli/dist is absent.
COPY --from=build /app/libs/crypto/dist libs/crypto/dist
COPY --from=build /app/libs/core/dist libs/core/dist
COPY --from=build /app/libs/plugin/dist libs/plugin/dist
COPY --from=build /app/libs/plugin/bin libs/plugin/bin
COPY --from=build /app/libs/gateway/dist libs/gateway/dist
COPY --from=build /app/apps/broker/dist apps/broker/dist
COPY --from=build /app/apps/broker/bin apps/broker/bin
COPY --from=build /app/migrations migrations
COPY --from=build /app/apps/web/dist apps/web/dist
COPY --from=build /app/apps/cli/dist-bundle apps/cli/dist-bundle
COPY --from=build /app/apps/cli/bin apps/cli/bin
COPY --from=build /app/apps/cli/skill apps/cli/skill
COPY --from=build /app/plugins/bridge/dist plugins/bridge/dist
COPY --from=build /app/plugins/gateway-telegram/dist plugins/gateway-telegram/dist
COPY --from=build /app/plugins/gateway-slack/dist plugins/gateway-slack/dist
COPY --from=build /app/plugins/gateway-whatsapp/dist plugins/gateway-whatsapp/dist
# `claudemesh` on PATH for the admin verbs and the plugin host; the launcher is an ES module with a
# node shebang, and node follows the link to find the bundle next to it.
RUN ln -s /app/apps/cli/bin/claudemesh.js /usr/local/bin/claudemesh \
  && mkdir -p /data/home \
  && chown -R node:node /data
# Not root: the image's `node` user (uid 1000) owns /data and nothing else it can write.
USER node
# The broker in a container listens on every interface; its state lives in the /data volume:
# DATA_DIR holds the admin token, the VAPID keys and (without DATABASE_URL) the embedded database;
# CLAUDEMESH_HOME holds the bootstrap owner's keys, which the CLI here uses too.
ENV HOST=0.0.0.0 \
    PORT=7900 \
    DATA_DIR=/data \
    CLAUDEMESH_HOME=/data/home
# The CLI here runs one admin verb at a time: each connects directly, and no background daemon of the
# owner's is left running in the broker's container.
ENV CLAUDEMESH_DAEMON=off
VOLUME ["/data"]
EXPOSE 7900
# node itself (slim images have no curl): /readyz answers 200 once the database is reachable.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||7900)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as the process itself, not npm: SIGTERM reaches the broker, which drains and exits 0.
CMD ["node", "apps/broker/dist/main.js"]
