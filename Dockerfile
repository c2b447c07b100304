# syntax=docker/dockerfile:1
#
# docker build -t chatgate .
# docker run --rm -p 8080:8080 -p 8081:8081 -p 9090:9090 chatgate              # embedded mode
# docker run --rm -p 8080:8080 -p 8081:8081 -p 9090:9090 \
#   -e CHATGATE_REDIS_ADDR=redis:6379 -e CHATGATE_ROLES=gateway chatgate
#
# Configuration: a file mounted and named with -config or CHATGATE_CONFIG,
# and/or CHATGATE_* variables (docs/configuration.md).

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that source edits do not invalidate the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /chatgate ./cmd/chatgate

# distroless/static carries CA certificates and tzdata and runs as the
# unprivileged user 65532; a static Go binary needs nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /chatgate /chatgate
COPY configs/ /etc/chatgate/
# Inside a container the listeners must bind every interface to be
# reachable through published ports; the defaults bind loopback only.
ENV CHATGATE_GATEWAY_LISTEN=0.0.0.0:8080 \
    CHATGATE_ADMIN_LISTEN=0.0.0.0:8081 \
    CHATGATE_METRICS_LISTEN=0.0.0.0:9090
EXPOSE 8080 8081 9090
USER nonroot:nonroot
ENTRYPOINT ["/chatgate"]
CMD ["serve"]
