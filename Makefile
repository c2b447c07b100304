# Shortcuts; the README commands are the reference.
.PHONY: run test ci build docker

run:
	go run ./cmd/chatgate serve

test:
	scripts/test.sh

ci:
	.ci/run

build:
	CGO_ENABLED=0 go build -trimpath -o bin/chatgate ./cmd/chatgate

docker:
	docker build -t chatgate .
