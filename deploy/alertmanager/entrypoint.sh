#!/bin/sh
# Alertmanager expands no environment variables in its configuration: the Slack webhook URL from
# .env goes to the file that slack_configs[].api_url_file reads. Without a URL, no receiver.
set -eu
if [ -n "${ALERTMANAGER_SLACK_WEBHOOK_URL:-}" ]; then
  umask 077
  printf '%s' "$ALERTMANAGER_SLACK_WEBHOOK_URL" > /alertmanager/slack_api_url
  config=/etc/alertmanager/alertmanager.yml
else
  config=/etc/alertmanager/alertmanager-null.yml
fi
exec /bin/alertmanager --config.file="$config" --storage.path=/alertmanager "$@"
