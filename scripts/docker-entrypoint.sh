#!/bin/sh
# The image's entry point: Node's heap cap from the container's memory budget (MEMORY_LIMIT_MB, else
# the cgroup's limit; src/config/heap-flag.ts), because a running Node process cannot cap its own
# heap. `exec`, so signals and the exit code are Node's own and nothing is left behind.
set -e
cd "$(dirname "$0")/.."
heap=$(node dist/config/heap-flag.js)
exec node --max-semi-space-size=4 ${heap:+--max-old-space-size=$heap} dist/cli.js "$@"
