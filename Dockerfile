# shadowdiff: the CLI (proxy, worker, serve, replay, report, demo) and the example order services.
# docker compose up builds it; alone: docker build -t shadowdiff . && docker run --rm shadowdiff --help
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json index.ts ./
COPY core core
COPY compare compare
COPY capture capture
COPY replay replay
COPY report report
COPY runtime runtime
COPY cli cli
COPY examples examples
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY bin bin
COPY docs docs
USER node
ENTRYPOINT ["node", "bin/shadowdiff.js"]
CMD ["--help"]
