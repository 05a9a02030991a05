#!/usr/bin/env bash
# Give each Lectern RabbitMQ user its password from the environment, after
#   rabbitmqctl import_definitions deploy/rabbitmq/definitions.json
# The definitions ship no password (a blank hash: the user cannot log in) so no secret is
# ever committed. Passwords go through stdin, never on a command line.
#
#   LECTERN_GATEWAY_PASSWORD  LECTERN_INDEXER_PASSWORD
#   LECTERN_SESSION_LOGGER_PASSWORD  LECTERN_PRODUCER_PASSWORD
#   LECTERN_RABBITMQ_USER_PREFIX (default "lectern-"; the tests use a unique one)
#   RABBITMQCTL (default "rabbitmqctl"; e.g. "rabbitmqctl -n rabbit@host")
set -euo pipefail
prefix="${LECTERN_RABBITMQ_USER_PREFIX:-lectern-}"
read -r -a ctl <<<"${RABBITMQCTL:-rabbitmqctl}"
for role in gateway indexer session-logger producer; do
  variable="LECTERN_$(tr 'a-z-' 'A-Z_' <<<"$role")_PASSWORD"
  password="${!variable:-}"
  if [[ -z "$password" ]]; then
    echo "$prefix$role: $variable is not set; the user keeps no password and cannot log in" >&2
    continue
  fi
  printf '%s' "$password" | "${ctl[@]}" -q change_password "$prefix$role" >/dev/null
  echo "$prefix$role: password set"
done
