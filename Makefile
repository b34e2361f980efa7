# Thin wrappers over the npm scripts and docker compose. `make help` lists them.
.PHONY: help build start up up-scale down logs test test-e2e etl migrate bench demo schema

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## compile src/ to dist/ (npm start and the image run dist/main.js)
	npm run build

start: ## the built service on embedded PGlite or DATABASE_URL (node dist/main.js serve)
	npm start

up: ## start PostgreSQL and the service with Docker (GraphiQL on :4000)
	docker compose up -d --build

up-scale: ## the same with a second replica on :4001 (cross-process fan-out)
	docker compose --profile scale up -d --build

down: ## stop the Docker stack
	docker compose --profile scale down

logs: ## follow the service logs
	docker compose logs -f app

test: ## unit and integration tests
	npm test

test-e2e: ## the browser test (needs Chromium)
	npm run test:e2e

etl: ## one ETL run now, JSON summary
	npm run etl -- --json

migrate: ## apply pending migrations
	npm run db:migrate

bench: ## benchmarks against baselines measured in the same run
	npm run bench

demo: ## offline demo: recorded payloads as moving prices
	npm run demo

schema: ## print the GraphQL schema to schema.graphql
	npm run schema
