# syntax=docker/dockerfile:1
# Build stage: install everything (scripts off: the sources are not copied yet), generate the
# Prisma client and the Pothos types offline, typecheck, and compile src/ to dist/.
FROM node:22.12.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run generate && npm run typecheck && npm run build

# Runtime stage: production dependencies only (no TypeScript, tsx or Prisma CLI) and the compiled
# dist/ (the generated client included) from the build stage.
FROM node:22.12.0-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma/migrations ./prisma/migrations
COPY --from=build /app/public ./public
COPY --from=build /app/seeds ./seeds
RUN mkdir -p /data && chown -R node:node /data
USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is the main process (PID 1), not npm or a shell: SIGTERM from `docker stop` or
# Kubernetes reaches it. dist/main.js installs its SIGTERM/SIGINT handlers before listening (PID 1
# gets no default signal action) and starts no child processes (nothing to reap).
# test/integration/signals.test.ts runs this exact argv as PID 1 of a new PID namespace.
CMD ["node", "dist/main.js", "serve"]
