#!/usr/bin/env sh
# Builds the test tools: the loopback Kafka-protocol broker the Kafka tests run against
# (librdkafka's mock cluster) and the Helm-compatible chart renderer (Go text/template + sprig
# from Debian's packages, GOPATH mode: nothing is downloaded).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/bin"
gcc -O2 -Wall -o "$here/bin/kafka-mock" "$here/kafka-mock.c" -lrdkafka
cd "$here/helm-render"
GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="${GOCACHE:-/tmp/mistbridge-go-cache}" go build -o "$here/bin/helm-render" .
