#!/usr/bin/env sh
# Builds the loopback Kafka-protocol broker the Kafka tests run against (librdkafka's mock cluster).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/bin"
gcc -O2 -Wall -o "$here/bin/kafka-mock" "$here/kafka-mock.c" -lrdkafka
