# One image for the API, the worker and the CLI; the command chooses
# (docker-compose.yml, docs/operations.md "Containers").
#   api:     node dist/apps/api/src/main.js          (the default)
#   worker:  node dist/apps/worker/src/main.js
#   migrate: node dist/libs/persistence/src/cli/migrate.js
#   CLI:     wfs <command>                            (WFS_URL, WFS_TOKEN)

# -- build: what CI runs (.ci/run): scripts/install.sh (npm ci, as the lock file pins), npm run build
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/install.sh scripts/install.sh
RUN bash scripts/install.sh
COPY tsconfig.json tsconfig.build.json ./
COPY apps apps
COPY libs libs
COPY migrations migrations
RUN npm run build
# Production dependencies only, from the same lock file.
RUN npm prune --omit=dev --no-audit --no-fund --loglevel=error \
 && rm -f dist/.tsbuildinfo dist/.tsbuildinfo.build

# -- runtime: compiled output, production dependencies, the definitions and the bundled tools
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    WFS_DATA_ROOT=/var/lib/wfs
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY bin bin
COPY workflows workflows
COPY tools tools
# The data root is a volume shared by the API and the workers; its owner is the service's user.
RUN ln -s /app/bin/wfs.js /usr/local/bin/wfs \
 && mkdir -p /var/lib/wfs \
 && chown node:node /var/lib/wfs
USER node
EXPOSE 3000
CMD ["node", "dist/apps/api/src/main.js"]
